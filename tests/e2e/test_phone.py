"""The simulated telephone page (/phone) in real Chromium: it registers a number with the
local provider, then calls alice's softphone, and alice calls it, with audio both ways."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Phone
from tests.e2e.test_conference import hears

Phones = Callable[..., Phone]
NUMBER = "+14155550100"


def telephone(phone: Phones) -> Phone:
    """carol's browser opens /phone (after logging in on the softphone) as NUMBER."""
    carol = phone("carol")
    page: Any = carol.page.context.new_page()
    page.on("pageerror", lambda exc: print(f"[telephone] page error: {exc}"))
    page.goto(carol.page.url.rstrip("/") + "/phone")
    assert "simulation" in page.inner_text("#simulation-notice").lower()
    page.fill("#phone-number", "(415) 555-0100")
    page.click("#phone-register")
    tel = Phone("telephone", page)
    tel.wait_text("#phone-registered", NUMBER)
    return tel


def test_the_telephone_calls_alice(phone: Phones) -> None:
    alice = phone("alice")
    tel = telephone(phone)
    tel.page.fill("#phone-to", "alice")
    tel.click("#phone-call-button")
    alice.wait_visible("#incoming")
    alice.wait_text("#incoming-from", NUMBER)
    alice.click("#accept")
    for p in (alice, tel):
        p.wait_connected()
        hears(p, 1)
    tel.wait_text("#phone-status", "Connected")
    alice.wait_text("#call-peer", NUMBER)
    tel.click("#phone-hangup")
    alice.wait_hidden("#call")


def test_alice_calls_the_telephone(phone: Phones) -> None:
    alice = phone("alice")
    tel = telephone(phone)
    alice.dial(NUMBER)
    tel.wait_visible("#phone-incoming")
    tel.wait_text("#phone-incoming-from", "alice")
    tel.click("#phone-accept")
    for p in (alice, tel):
        p.wait_connected()
        hears(p, 1)
    alice.wait_text("#call-status", "Connected")
    alice.click("#hangup")
    tel.wait_hidden("#phone-call")


def test_calling_a_number_nobody_registered_says_so(phone: Phones) -> None:
    alice = phone("alice")
    alice.dial("+14155550199")
    alice.wait_visible("#message")
    try:
        alice.wait_text("#message", "cannot be reached")
    finally:
        print("message:", alice.text("#message"))
