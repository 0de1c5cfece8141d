"""Real Chromium against a real threaded server on loopback (see shared BROWSER-TESTING.md).

Each user gets their own browser context (own cookies, own microphone permission). The
synthetic microphone beeps, so audio energy measured on the receiving side proves that media
really flows. Selected with ``-m browser``; skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from benchmarks.browser import CHROMIUM, FLAGS  # one list of the flags BROWSER-TESTING.md gives
from werkzeug.serving import make_server

from talkbox.config import Settings
from talkbox.providers.local import LocalProvider
from talkbox.store import MemoryStore, SQLiteStore
from talkbox.web import talkbox_of

RING_TIMEOUT = 4.0
GRACE = 2.0
PASSWORD = "e2e-password"

playwright_sync = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from examples.web.app import build_app  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module, not per session: a Playwright sync session left open runs an asyncio loop in
    # this thread, and any later test that starts its own (the benchmark smoke run) then fails
    # with "using Playwright Sync API inside the asyncio loop".
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


class RecordingProvider(LocalProvider):
    """Records the ICE candidates pages send, before the server's own loopback filter."""

    candidates: ClassVar[list[str]] = []
    relayed: ClassVar[list[str]] = []  # the types of the messages relayed

    def relay(self, identity: str, device_id: str, message: Mapping[str, Any]) -> None:
        self.relayed.append(str(message.get("type")))
        candidate = message.get("candidate")
        if isinstance(candidate, Mapping) and candidate.get("candidate"):
            self.candidates.append(str(candidate["candidate"]))
        super().relay(identity, device_id, message)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    RecordingProvider.candidates.clear()
    RecordingProvider.relayed.clear()
    provider = RecordingProvider(ring_timeout=RING_TIMEOUT, grace=GRACE, loopback_only=True)
    # TALKBOX_E2E_STORE=sqlite runs the browser tests on the quick start's store.
    sqlite = os.environ.get("TALKBOX_E2E_STORE") == "sqlite"
    app = build_app(
        Settings(store="memory"),
        store=SQLiteStore(tmp_path / "e2e.db") if sqlite else MemoryStore(),
        provider=provider,
        SECRET_KEY="e2e",
        TALKBOX_KEEPALIVE=1.0,
    )
    tb = talkbox_of(app)
    tb.accounts.hash_method = "pbkdf2:sha256:1000"
    for name in ("alice", "bob", "carol"):
        tb.accounts.create_user(name, PASSWORD)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    tb.close()


@dataclass
class Phone:
    """One user's tab."""

    name: str
    page: Any

    def click(self, selector: str) -> None:
        self.page.click(selector)

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def wait_text(self, selector: str, text: str, timeout: float = 8.0) -> None:
        self.page.wait_for_function(
            "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
            arg=[selector, text],
            timeout=timeout * 1000,
        )

    def visible(self, selector: str) -> bool:
        return bool(self.page.is_visible(selector))

    def wait_visible(self, selector: str, timeout: float = 8.0) -> None:
        self.page.wait_for_selector(selector, state="visible", timeout=timeout * 1000)

    def wait_hidden(self, selector: str, timeout: float = 8.0) -> None:
        self.page.wait_for_selector(selector, state="hidden", timeout=timeout * 1000)

    def dial(self, who: str) -> None:
        self.page.fill("#dial-to", who)
        self.page.click("#dial")

    def connected(self) -> bool:
        return bool(self.page.evaluate("window.talkbox.media.connected()"))

    def inbound(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate("window.talkbox.media.inbound()"))

    def energy(self) -> float:
        return float(sum(s["totalAudioEnergy"] for s in self.inbound()))

    def wait_connected(self, timeout: float = 8.0) -> None:
        self.page.wait_for_function("window.talkbox.media.connected()", timeout=timeout * 1000)


@pytest.fixture
def phone(browser: Any, server: str) -> Iterator[Callable[..., Phone]]:
    contexts: dict[str, Any] = {}

    def open_phone(name: str, init_script: str | None = None) -> Phone:
        if name not in contexts:
            # bypass_csp: Playwright polls with eval, which the page's CSP forbids (rightly).
            contexts[name] = browser.new_context(permissions=["microphone"], bypass_csp=True)
        page = contexts[name].new_page()
        page.on("pageerror", lambda exc: print(f"[{name}] page error: {exc}"))
        if init_script:
            page.add_init_script(init_script)
        log_in(page, server, name)
        return Phone(name, page)

    yield open_phone
    for context in contexts.values():
        context.close()


def log_in(page: Any, url: str, name: str) -> None:
    """Open the softphone at ``url`` and log in as ``name`` (a second tab of a logged-in user
    is in already)."""
    page.goto(url + "/")
    page.wait_for_selector("#login:not([hidden]), #phone:not([hidden])")
    if page.is_visible("#login"):
        page.fill("#login-name", name)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
    page.wait_for_selector("#phone", state="visible")


def wait_for(predicate: Callable[[], Any], timeout: float = 6.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def online(phone: Phone, who: str, timeout: float = 5.0) -> None:
    """Wait until ``phone``'s page lists ``who`` as online."""
    phone.wait_text("#users", f"{who} (online)", timeout)
