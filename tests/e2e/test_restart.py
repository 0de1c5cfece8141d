"""Calls between real browsers outlive the server processes carrying their signalling.

* One server (SQLite) killed with -9 mid-call and started again on the same port: both pages
  reconnect their streams, get their call back, keep their media, and can still hang up.
* Two servers sharing Redis, each browser behind a fail-over front (as a load balancer would
  be): alice's call, placed through A, rings bob's page on B and is answered there; both
  servers report one state; A is killed with -9 mid-call, alice's page moves to B, and the call
  goes on (audio both ways) until bob hangs up.

Servers run under gunicorn from the deploy config (``examples.web.app:build_app()``), each in
its own process group, so that ``kill -9`` is a real crash.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.gunicorn import Gunicorn, free_port

from talkbox.store import SQLiteStore, Store
from talkbox.web.auth import Accounts
from tests.e2e.conftest import PASSWORD, Phone, log_in, online, wait_for
from tests.e2e.test_calls import assert_audio_flows

pytest.importorskip("gunicorn")

GRACE = 3.0
TARGET = "examples.web.app:build_app()"


def env_for(store: str) -> dict[str, str]:
    return {
        "TALKBOX_STORE": store,
        "TALKBOX_PROVIDER": "local",
        "TALKBOX_SECRET_KEY": "e2e-restart",  # sessions outlive the process, as in production
        "TALKBOX_GRACE": str(GRACE),
        "TALKBOX_KEEPALIVE": "1",
        "TALKBOX_LOOPBACK_ONLY": "1",
        "TALKBOX_RECONCILE_ON_START": "1",
        "TALKBOX_WORKERS": "1",
    }


def add_users(store: Store) -> None:
    accounts = Accounts(store)
    accounts.hash_method = "pbkdf2:sha256:1000"
    for name in ("alice", "bob"):
        accounts.create_user(name, PASSWORD, replace=True)


def start(env: dict[str, str], port: int | None = None) -> Gunicorn:
    return Gunicorn(env, target=TARGET, port=port)


@pytest.fixture
def pages(browser: Any) -> Iterator[Callable[[str, str], Phone]]:
    contexts: list[Any] = []

    def open_page(name: str, url: str) -> Phone:
        context = browser.new_context(permissions=["microphone"], bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: print(f"[{name}] page error: {exc}"))
        log_in(page, url, name)
        return Phone(name, page)

    yield open_page
    for context in contexts:
        context.close()


def call(alice: Phone, bob: Phone) -> None:
    online(alice, "bob")
    alice.dial("bob")
    bob.wait_visible("#incoming")
    bob.click("#accept")
    alice.wait_connected()
    bob.wait_connected()
    assert_audio_flows(alice)
    assert_audio_flows(bob)


def energy_grows(phone: Phone, seconds: float = 1.0) -> bool:
    before = phone.energy()
    time.sleep(seconds)
    return phone.energy() > before


def calls_seen_by(phone: Phone) -> list[dict[str, Any]]:
    """The live calls as the server behind ``phone``'s page reports them."""
    answer = phone.page.evaluate("fetch('/api/calls').then((r) => r.json())")
    return list(answer["calls"])


def rooms_seen_by(phone: Phone) -> list[tuple[str, list[tuple[str, str, bool, bool]]]]:
    """The live rooms as the server behind ``phone``'s page reports them, whoever asks."""
    return [
        (
            room["conference_id"],
            [(g["endpoint"], g["status"], g["joined"], g["muted"]) for g in room["legs"]],
        )
        for room in calls_seen_by(phone)
    ]


def test_server_restart_mid_call_gives_both_pages_their_call_back(
    pages: Callable[[str, str], Phone], tmp_path: Path
) -> None:
    db = tmp_path / "talkbox.db"
    store = SQLiteStore(db)
    add_users(store)
    store.close()
    env = env_for(f"sqlite:///{db}")
    server = start(env)
    try:
        alice, bob = pages("alice", server.url), pages("bob", server.url)
        call(alice, bob)
        (before,) = calls_seen_by(alice)

        server.kill()
        started = time.monotonic()
        server = start(env, port=server.port)
        print(f"restart: serving again after {time.monotonic() - started:.1f} s")

        # Both streams come back; the server still knows the call and the pages kept it.
        assert wait_for(lambda: calls_seen_by(bob), timeout=10)
        (after,) = calls_seen_by(alice)
        assert after["conference_id"] == before["conference_id"]
        assert [leg["status"] for leg in after["legs"]] == ["in-progress", "in-progress"]
        time.sleep(GRACE + 2.5)  # past the grace period: the legs were reclaimed, not ended
        alice.wait_text("#call-status", "Connected")
        bob.wait_text("#call-status", "Connected")
        assert alice.connected()
        assert bob.connected()
        assert energy_grows(alice)
        assert energy_grows(bob)
        assert "Lost the connection" not in alice.text("#message")

        bob.click("#hangup")  # through the restarted server, which tells alice's page
        alice.wait_hidden("#call")
        alice.wait_text("#message", "Call ended.")
        assert wait_for(lambda: not calls_seen_by(alice))
    finally:
        server.kill()


class FailOver:
    """A TCP front that sends each connection to the first backend that accepts it, as a load
    balancer with health checks would: when a server dies, the next connection goes on."""

    def __init__(self, *backends: int) -> None:
        self.backends = backends
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        for port in self.backends:
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue
            upstream.settimeout(None)
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
            self._pipe(client, upstream)
            return
        client.close()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        self._closing = True
        self.listener.close()


def test_two_processes_on_redis_a_call_outlives_the_process_it_was_placed_through(
    pages: Callable[[str, str], Phone],
) -> None:
    from talkbox.store.redis_store import RedisStore
    from tests.store.redis_fixture import REDIS_URL, redis_client, scratch_prefix

    with scratch_prefix() as prefix:
        add_users(RedisStore(redis_client(), prefix=prefix))
        env = env_for(f"{REDIS_URL}?prefix={prefix}")
        a_port, b_port = free_port(), free_port()
        a, b = start(env, a_port), start(env, b_port)
        to_a, to_b = FailOver(a_port, b_port), FailOver(b_port, a_port)
        try:
            alice, bob = pages("alice", to_a.url), pages("bob", to_b.url)
            call(alice, bob)  # placed through A, rung and answered on B
            on_a, on_b = rooms_seen_by(alice), rooms_seen_by(bob)
            assert len(on_a) == 1
            assert on_a == on_b  # one state, whichever process answers

            a.kill()  # alice's server dies mid-call
            # alice's stream fails over to B, which gives her the call back.
            assert wait_for(lambda: rooms_seen_by(alice) == on_b, timeout=10)
            time.sleep(GRACE + 2.5)
            alice.wait_text("#call-status", "Connected")
            assert energy_grows(alice)
            assert energy_grows(bob)
            assert rooms_seen_by(bob) == on_a

            bob.click("#hangup")
            alice.wait_hidden("#call")
            alice.wait_text("#message", "Call ended.")
        finally:
            to_a.close()
            to_b.close()
            for server in (a, b):
                if server.proc.poll() is None:
                    server.kill()
