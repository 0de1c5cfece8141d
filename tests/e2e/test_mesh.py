"""Five people in one local room (the mesh at its documented size minus one): everyone hears
the four others, in real Chromium. Slow-ish: 20 peer connections on one machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from werkzeug.serving import make_server

from talkbox.config import Settings
from talkbox.providers.local import MESH_LIMIT, LocalProvider
from talkbox.store import MemoryStore
from talkbox.web import talkbox_of
from tests.e2e.conftest import PASSWORD, RING_TIMEOUT, Phone, online
from tests.e2e.test_conference import hears

Phones = Callable[..., Phone]
PEOPLE = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture
def server() -> Iterator[str]:
    """The e2e server with five users (overrides conftest's three)."""
    from examples.web.app import build_app

    provider = LocalProvider(ring_timeout=RING_TIMEOUT * 3, grace=2.0, loopback_only=True)
    app = build_app(
        Settings(store="memory"), store=MemoryStore(), provider=provider, SECRET_KEY="e2e"
    )
    tb = talkbox_of(app)
    tb.accounts.hash_method = "pbkdf2:sha256:1000"
    for name in PEOPLE:
        tb.accounts.create_user(name, PASSWORD)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    tb.close()


def test_five_people_each_hear_the_four_others(phone: Phones) -> None:
    assert len(PEOPLE) <= MESH_LIMIT
    phones = [phone(name) for name in PEOPLE]
    alice = phones[0]
    for other in PEOPLE[1:]:
        online(alice, other)
    started = time.monotonic()
    alice.dial(PEOPLE[1])
    for joining in phones[1:]:
        if joining is not phones[1]:
            alice.page.fill("#add-to", joining.name)
            alice.click("#add")
        joining.wait_visible("#incoming", timeout=15)
        joining.click("#accept")
        joining.wait_connected(timeout=15)
    meshed = """n => { const p = [...window.talkbox.media.peers.values()];
      return p.length === n && p.every(x => x.pc.connectionState === 'connected') }"""
    for p in phones:
        p.page.wait_for_function(meshed, arg=len(PEOPLE) - 1, timeout=20000)
    print(f"timing: 5-way room built and meshed {(time.monotonic() - started) * 1000:.0f} ms")
    for p in phones:
        hears(p, len(PEOPLE) - 1, timeout=15)
    for p in phones:
        for name in PEOPLE:
            p.wait_text("#participants", name)
