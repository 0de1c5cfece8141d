"""Conferences in real Chromium (local provider): a three-way mesh where each person hears the
other two, removing someone, and hold silencing both directions until resumed."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.conftest import Phone, online, wait_for
from tests.e2e.test_calls import answered

Phones = Callable[..., Phone]


def by_leg(phone: Phone) -> dict[str, tuple[float, int]]:
    """Per connection of ``phone``: (total audio energy received, bytes received)."""
    return {s["leg"]: (s["totalAudioEnergy"], s["bytesReceived"]) for s in phone.inbound()}


def hears(phone: Phone, people: int, timeout: float = 8.0) -> None:
    """``phone`` receives audio with energy from exactly ``people`` other browsers."""

    def flowing() -> bool:
        stats = phone.inbound()
        return len(stats) == people and all(
            s["totalAudioEnergy"] > 0 and s["bytesReceived"] > 0 for s in stats
        )

    assert wait_for(flowing, timeout=timeout), f"{phone.name} hears {phone.inbound()}"


def gains(phone: Phone, seconds: float = 1.0) -> dict[str, tuple[float, int]]:
    """How much energy and how many bytes each connection received over ``seconds``."""
    before = by_leg(phone)
    time.sleep(seconds)
    after = by_leg(phone)
    return {
        leg: (after[leg][0] - before[leg][0], after[leg][1] - before[leg][1])
        for leg in after
        if leg in before
    }


def three_way(phone: Phones) -> tuple[Phone, Phone, Phone, float]:
    """alice calls bob, then adds carol from the room panel; returns the seconds from
    carol's 'Accept' to all three connections of the mesh connected on every page."""
    alice, bob, _ = answered(phone)
    carol = phone("carol")
    online(alice, "carol")
    alice.page.fill("#add-to", "carol")
    alice.click("#add")
    carol.wait_visible("#incoming")
    alice.wait_text("#participants", "ringing")
    started = time.monotonic()
    carol.click("#accept")
    everyone = (alice, bob, carol)
    meshed = """() => { const p = [...window.talkbox.media.peers.values()];
      return p.length === 2 && p.every(x => x.pc.connectionState === 'connected') }"""
    for p in everyone:
        p.page.wait_for_function(meshed, timeout=8000)
    elapsed = time.monotonic() - started
    print(f"timing: carol accepts -> 3-way mesh connected on all pages {elapsed * 1000:.0f} ms")
    return alice, bob, carol, elapsed


def test_three_way_each_hears_the_other_two_then_one_is_removed(phone: Phones) -> None:
    alice, bob, carol, _ = three_way(phone)
    for p in (alice, bob, carol):
        hears(p, 2)
        p.wait_text("#participants", "carol")
    for p in (bob, carol):
        assert not p.page.is_visible("#participants button.remove"), "only the owner removes"
    alice.wait_text("#participants li[data-who=carol] .state", "connected")

    alice.click("#participants li[data-who=carol] button.remove")
    carol.wait_hidden("#call")
    for p in (alice, bob):
        p.page.wait_for_function("window.talkbox.media.peers.size === 1", timeout=8000)
        assert "carol" not in p.text("#participants")
    still = [gains(alice), gains(bob)]
    assert all(energy > 0 and sent > 0 for g in still for energy, sent in g.values()), still
    assert not carol.page.evaluate("window.talkbox.media.peers.size")


def test_a_person_may_leave_and_the_room_ends_with_one_left(phone: Phones) -> None:
    alice, bob, carol, _ = three_way(phone)
    bob.click("#hangup")  # anyone can leave
    bob.wait_hidden("#call")
    for p in (alice, carol):
        p.page.wait_for_function("window.talkbox.media.peers.size === 1", timeout=8000)
        hears(p, 1)
    carol.click("#hangup")  # alice would be alone: the room ends for her too
    alice.wait_hidden("#call")
    alice.wait_text("#message", "Call ended.")


def test_hold_silences_both_directions_and_resume_restores(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    hears(alice, 1)
    hears(bob, 1)
    speaking = [gains(alice), gains(bob)]
    assert all(e > 0 for g in speaking for e, _ in g.values()), speaking

    alice.click("#participants li[data-who=bob] button.hold")
    alice.wait_text("#participants li[data-who=bob] .state", "on hold")
    bob.wait_text("#participants", "on hold")
    time.sleep(0.5)  # packets in flight
    held = [gains(alice), gains(bob)]
    print(f"hold: speaking {speaking} held {held}")
    for before, during in zip(speaking, held, strict=True):
        for leg, (energy, sent) in during.items():
            assert energy < before[leg][0] * 0.05, (before, during)
            assert sent < before[leg][1] * 0.05, (before, during)

    alice.click("#participants li[data-who=bob] button.hold")
    alice.wait_text("#participants li[data-who=bob] .state", "connected")
    time.sleep(0.5)
    resumed = [gains(alice), gains(bob)]
    for before, after in zip(speaking, resumed, strict=True):
        for leg, (energy, _) in after.items():
            assert energy > before[leg][0] * 0.3, (before, after)


def test_the_owner_mutes_and_unmutes_someone_else(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    hears(alice, 1)
    speaking = gains(alice)
    alice.click("#participants li[data-who=bob] button.mute")
    alice.wait_text("#participants li[data-who=bob] .state", "muted")
    bob.wait_text("#mute", "Unmute")  # bob's own page knows he was muted
    time.sleep(0.3)
    muted = gains(alice)
    assert all(e < speaking[leg][0] * 0.05 for leg, (e, _) in muted.items()), (speaking, muted)
    alice.click("#participants li[data-who=bob] button.mute")
    alice.wait_text("#participants li[data-who=bob] .state", "connected")
    time.sleep(0.3)
    back = gains(alice)
    assert all(e > speaking[leg][0] * 0.3 for leg, (e, _) in back.items()), (speaking, back)
