"""Twilio mode in real Chromium, up to Twilio's edge.

The softphone served by a talkbox running the Twilio provider (fake credentials) must load the
Voice SDK from its own origin, take a Voice access token from ``/api/voice-token``, build a
``Twilio.Device`` with it and try to register, and fetch a fresh token when the SDK warns that
the current one will expire. Twilio itself is unreachable here (the test runs in a loopback-only
namespace), so registration cannot succeed and calls cannot ring: that part is not tested.

Needs the SDK installed by ``npm ci`` in ``examples/web``; skipped when it is missing.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from examples.web.app import TWILIO_SDK, build_app
from flask import request
from werkzeug.serving import make_server

from talkbox.store import MemoryStore
from talkbox.web import talkbox_of
from tests.e2e.conftest import PASSWORD
from tests.twilio_sim import provider, settings

if not TWILIO_SDK.is_file():
    pytest.skip(
        "the Twilio Voice SDK is not installed (npm ci in examples/web)", allow_module_level=True
    )


@pytest.fixture
def twilio_server() -> Iterator[tuple[str, list[str]]]:
    """A softphone on the Twilio provider; yields its URL and the API paths requested."""
    app = build_app(settings(), store=MemoryStore(), provider=provider(), SECRET_KEY="e2e")
    requested: list[str] = []

    @app.before_request
    def record() -> None:
        requested.append(request.path)

    tb = talkbox_of(app)
    tb.accounts.hash_method = "pbkdf2:sha256:1000"
    tb.accounts.create_user("alice", PASSWORD)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", requested
    http.shutdown()
    tb.close()


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_the_twilio_client_loads_takes_a_token_and_renews_it(
    browser: Any, twilio_server: tuple[str, list[str]]
) -> None:
    url, requested = twilio_server
    context = browser.new_context(permissions=["microphone"], bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.fill("#login-name", "alice")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_function("window.talkbox.client && window.talkbox.client.kind === 'twilio'")
    assert page.evaluate("typeof window.Twilio.Device") == "function"
    assert "/vendor/twilio-voice-sdk.js" in requested
    page.wait_for_function("window.talkbox.client.device !== null", timeout=8000)
    assert page.evaluate("window.talkbox.client.identity") == "alice"
    assert requested.count("/api/voice-token") == 1
    token = page.evaluate("window.talkbox.client.device.token")
    grant = claims(token)
    assert grant["grants"]["identity"] == "alice"
    assert "voice" in grant["grants"]
    # Registration goes to Twilio, which is out of reach here: it is under way or failed.
    assert page.evaluate("window.talkbox.client.state") in ("registering", "failed")

    page.evaluate("(c => c.device.emit('tokenWillExpire', c.device))(window.talkbox.client)")
    page.wait_for_function("window.talkbox.client.tokenFetches === 2", timeout=5000)
    assert requested.count("/api/voice-token") == 2
    assert not [e for e in errors if "Twilio" not in e], errors
    context.close()


# A stand-in for the SDK's Device and Call (same method names), so that the softphone's
# Twilio-mode wiring (incoming, accept, reject, cancel, mute, sendDigits) can be exercised
# without Twilio. The real SDK is checked above; this checks what the page does with it.
FAKE_SDK = """
class Emitter {
  constructor() { this.handlers = {}; }
  on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; }
  emit(name, ...args) { for (const fn of this.handlers[name] || []) fn(...args); }
}
class FakeCall extends Emitter {
  constructor(sid, from) { super(); this.parameters = { CallSid: sid, From: from };
    this.log = []; this.state = "pending"; }
  accept() { this.log.push("accept"); this.state = "open"; }
  reject() { this.log.push("reject"); this.state = "closed"; }
  mute(m) { this.log.push(`mute:${m}`); }
  sendDigits(d) { this.log.push(`digits:${d}`); }
  disconnect() { this.log.push("disconnect"); this.emit("disconnect", this); }
  status() { return this.state; }
}
class FakeDevice extends Emitter {
  constructor(token) { super(); this.token = token; window.fakeDevice = this; }
  async register() { this.emit("registered"); }
  updateToken(token) { this.token = token; }
}
window.Twilio = { Device: FakeDevice };
window.FakeCall = FakeCall;
"""


def test_twilio_mode_rings_accepts_rejects_and_sends_digits_through_the_client(
    browser: Any, twilio_server: tuple[str, list[str]]
) -> None:
    url, requested = twilio_server
    context = browser.new_context(permissions=["microphone"], bypass_csp=True)
    page = context.new_page()
    page.add_init_script(FAKE_SDK)
    page.goto(url + "/")
    page.fill("#login-name", "alice")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_function("window.talkbox.client && window.talkbox.client.state === 'registered'")
    assert "/vendor/twilio-voice-sdk.js" not in requested  # the stand-in was used

    ring = "c => { window.call = new FakeCall(c, 'client:bob'); fakeDevice.emit('incoming', call) }"
    page.evaluate(f"({ring})('CA1')")
    page.wait_for_selector("#incoming", state="visible")
    assert "bob" in page.inner_text("#incoming-from")
    page.click("#accept")
    page.wait_for_function("window.call.log.includes('accept')")
    assert page.evaluate("window.talkbox.client.connected()")
    page.evaluate("window.talkbox.client.setMuted(true)")
    page.evaluate("window.talkbox.client.sendDigits(null, '9#')")
    assert page.evaluate("window.call.log") == ["accept", "mute:true", "digits:9#"]
    page.evaluate("window.call.disconnect()")
    assert not page.evaluate("window.talkbox.client.connected()")

    page.evaluate(f"({ring})('CA2')")
    page.wait_for_selector("#incoming", state="visible")
    page.click("#reject")
    page.wait_for_function("window.call.log.includes('reject')")
    page.wait_for_selector("#incoming", state="hidden")

    page.evaluate(f"({ring})('CA3')")
    page.wait_for_selector("#incoming", state="visible")
    page.evaluate("window.call.emit('cancel')")  # the caller gave up
    page.wait_for_selector("#incoming", state="hidden")
    context.close()
