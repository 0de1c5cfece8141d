"""Transfers in real Chromium (local provider): bob, who took alice's call, hands her to carol,
cold (he leaves at once) or warm (alice waits on hold while bob talks to carol first)."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Phone, online, wait_for
from tests.e2e.test_calls import answered
from tests.e2e.test_conference import by_leg, gains, hears

Phones = Callable[..., Phone]


def start_transfer(phone: Phones, warm: bool) -> tuple[Phone, Phone, Phone]:
    alice, bob, _ = answered(phone)
    carol = phone("carol")
    online(bob, "carol")
    bob.page.fill("#transfer-to", "carol")
    bob.click("#transfer-warm" if warm else "#transfer-cold")
    carol.wait_visible("#incoming")
    return alice, bob, carol


def only_talking(a: Phone, b: Phone) -> None:
    """``a`` and ``b`` hear each other, over their one connection each."""
    for p in (a, b):
        p.page.wait_for_function("window.talkbox.media.peers.size === 1", timeout=8000)
        hears(p, 1)
        p.wait_text("#call-peer", b.name if p is a else a.name)


def test_cold_transfer_connects_alice_and_carol(phone: Phones) -> None:
    alice, bob, carol = start_transfer(phone, warm=False)
    bob.wait_hidden("#call")  # the transferor left at once
    alice.wait_text("#participants", "carol")
    carol.click("#accept")
    only_talking(alice, carol)
    assert not bob.page.evaluate("window.talkbox.media.peers.size")


def test_warm_transfer_consults_then_completes(phone: Phones) -> None:
    alice, bob, carol = start_transfer(phone, warm=True)
    alice.wait_text("#participants li[data-who=alice] .state", "on hold")
    carol.click("#accept")
    bob.wait_visible("#transfer-complete")
    carol.page.wait_for_function("window.talkbox.media.peers.size === 2", timeout=8000)
    bob.page.wait_for_function("window.talkbox.media.peers.size === 2", timeout=8000)
    # bob and carol talk; alice, on hold, hears nothing and is not heard.
    alice_leg, bob_leg = (p.page.evaluate("window.talkbox.media.myLeg") for p in (alice, bob))
    assert wait_for(lambda: by_leg(carol).get(bob_leg, (0.0, 0))[0] > 0), carol.inbound()
    consult = gains(carol)
    assert consult[bob_leg][0] > 0, consult
    assert consult.get(alice_leg, (0.0, 0)) == (0.0, 0), consult
    assert all(energy == 0 for energy, _ in gains(alice).values())

    bob.click("#transfer-complete")
    bob.wait_hidden("#call")
    alice.wait_text("#participants li[data-who=alice] .state", "connected")
    only_talking(alice, carol)


def test_warm_transfer_cancelled_returns_to_alice(phone: Phones) -> None:
    alice, bob, carol = start_transfer(phone, warm=True)
    alice.wait_text("#participants li[data-who=alice] .state", "on hold")
    bob.wait_visible("#transfer-cancel")
    bob.click("#transfer-cancel")
    carol.wait_hidden("#incoming")
    alice.wait_text("#participants li[data-who=alice] .state", "connected")
    only_talking(alice, bob)
