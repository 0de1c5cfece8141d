"""DTMF in real Chromium (local provider): keys pressed on alice's pad are played as RTP
telephone-events on her connection (RTCDTMFSender reports each tone as it goes out) and shown
on bob's side (the digits are signalled too: browsers do not report received tones)."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone, wait_for
from tests.e2e.test_calls import answered

Phones = Callable[..., Phone]


def test_digits_are_played_and_arrive(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    alice.wait_visible("#keypad")
    for key in "12#":
        alice.click(f"#keypad button[data-digit='{key}']")
    alice.wait_text("#digits-sent", "12#")
    bob.wait_text("#digits-received", "alice pressed: 12#")
    played = wait_for(lambda: alice.page.evaluate("window.talkbox.media.tonesSent") == "12#")
    assert played, alice.page.evaluate("window.talkbox.media.tonesSent")
