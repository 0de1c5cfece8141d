"""The softphone's extra pages and assets: the simulated telephone and the Twilio SDK route."""

from __future__ import annotations

from examples.web.app import TWILIO_SDK, build_app

from talkbox.config import Settings
from talkbox.store import MemoryStore
from talkbox.web import talkbox_of
from tests.twilio_sim import provider, settings


def test_the_simulated_telephone_page_says_it_is_a_simulation() -> None:
    app = build_app(Settings(store="memory"), store=MemoryStore(), SECRET_KEY="t")
    page = app.test_client().get("/phone")
    assert page.status_code == 200
    assert b"This is a simulation." in page.data
    assert "twilio.com" not in page.headers["Content-Security-Policy"]
    talkbox_of(app).close()


def test_twilio_mode_allows_twilio_hosts_and_serves_the_sdk_when_installed() -> None:
    app = build_app(settings(), store=MemoryStore(), provider=provider(), SECRET_KEY="t")
    client = app.test_client()
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "wss://*.twilio.com" in csp
    sdk = client.get("/vendor/twilio-voice-sdk.js")
    assert sdk.status_code == (200 if TWILIO_SDK.is_file() else 404)
    sdk.close()
    talkbox_of(app).close()
