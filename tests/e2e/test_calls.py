"""Two people, one call, in real Chromium: ringing, answering, audio both ways, the ways a call
ends, two tabs of one user, and a reload in the middle of a call."""

from __future__ import annotations

import time
from collections.abc import Callable

from talkbox.providers.local import is_loopback_candidate
from tests.e2e.conftest import GRACE, RING_TIMEOUT, Phone, RecordingProvider, online, wait_for

Phones = Callable[..., Phone]


def answered(phone: Phones) -> tuple[Phone, Phone, float]:
    """alice calls bob, bob accepts; returns both and the seconds from 'Call' to connected."""
    alice, bob = phone("alice"), phone("bob")
    online(alice, "bob")
    started = time.monotonic()
    alice.dial("bob")
    bob.wait_visible("#incoming")
    rang = time.monotonic()
    bob.click("#accept")
    alice.wait_connected()
    bob.wait_connected()
    done = time.monotonic()
    print(f"timing: call -> bob rings {(rang - started) * 1000:.0f} ms, ", end="")
    print(f"accept -> both connected {(done - rang) * 1000:.0f} ms")
    return alice, bob, done - started


def assert_audio_flows(receiver: Phone) -> None:
    def flowing() -> bool:
        stats = receiver.inbound()
        return bool(stats) and all(
            s["totalAudioEnergy"] > 0 and s["bytesReceived"] > 0 for s in stats
        )

    assert wait_for(flowing, timeout=6), f"no audio reached {receiver.name}: {receiver.inbound()}"


def test_alice_calls_bob_and_both_hear_each_other(phone: Phones) -> None:
    alice, bob, elapsed = answered(phone)
    print(f"call -> connected (incl. bob's click): {elapsed * 1000:.0f} ms")
    assert_audio_flows(alice)
    assert_audio_flows(bob)
    alice.wait_text("#call-status", "Connected")
    bob.wait_text("#call-peer", "alice")
    # The pages themselves signal loopback candidates only (the server would drop others).
    assert RecordingProvider.candidates
    assert all(is_loopback_candidate(c) for c in RecordingProvider.candidates)
    # The call went out with alice's offer and bob answered it as he accepted: no offer or
    # answer had to be relayed afterwards, at most further ICE candidates.
    assert set(RecordingProvider.relayed) <= {"ice"}


def test_bob_rejects(phone: Phones) -> None:
    alice, bob = phone("alice"), phone("bob")
    online(alice, "bob")
    alice.dial("bob")
    bob.wait_visible("#incoming")
    alice.wait_text("#call-status", "Ringing")
    bob.click("#reject")
    alice.wait_text("#message", "bob declined the call.")
    alice.wait_hidden("#call")
    bob.wait_hidden("#incoming")
    alice.wait_text("#history", "To bob: rejected")


def test_bob_does_not_answer(phone: Phones) -> None:
    alice, bob = phone("alice"), phone("bob")
    online(alice, "bob")
    alice.dial("bob")
    bob.wait_visible("#incoming")
    assert bob.page.evaluate("window.talkbox.ringtone.ringing")
    alice.wait_text("#message", "bob did not answer.", timeout=RING_TIMEOUT + 5)
    bob.wait_hidden("#incoming")
    bob.wait_text("#message", "Missed call from alice.")
    assert not bob.page.evaluate("window.talkbox.ringtone.ringing")


def test_alice_cancels_while_it_rings(phone: Phones) -> None:
    alice, bob = phone("alice"), phone("bob")
    online(alice, "bob")
    alice.dial("bob")
    bob.wait_visible("#incoming")
    alice.click("#hangup")
    alice.wait_text("#message", "Call canceled.")
    bob.wait_hidden("#incoming")
    bob.wait_text("#message", "Missed call from alice.")


def test_calling_someone_offline_says_so(phone: Phones) -> None:
    alice = phone("alice")
    alice.dial("carol")
    alice.wait_text("#message", "carol is offline.")
    assert not alice.visible("#call")


def test_mute_silences_alice_on_bobs_side(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    assert_audio_flows(bob)

    def energy_gain(seconds: float = 1.0) -> float:
        before = bob.energy()
        time.sleep(seconds)
        return bob.energy() - before

    speaking = energy_gain()
    assert speaking > 0
    alice.click("#mute")
    alice.wait_text("#mute", "Unmute")
    assert alice.page.get_attribute("#mute", "aria-pressed") == "true"
    time.sleep(0.3)  # frames already in flight
    muted = energy_gain()
    assert muted < speaking * 0.05, (speaking, muted)
    alice.click("#mute")
    alice.wait_text("#mute", "Mute")
    time.sleep(0.3)
    assert energy_gain() > speaking * 0.3


def test_hang_up_ends_the_call_for_both(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    bob.wait_text("#timer", "0:0")
    alice.click("#hangup")
    alice.wait_hidden("#call")
    bob.wait_hidden("#call")
    bob.wait_text("#message", "Call ended.")
    assert wait_for(lambda: not bob.page.evaluate("window.talkbox.media.peers.size"))
    bob.wait_text("#history", "From alice: completed")


def test_both_tabs_of_bob_ring_and_the_other_stops(phone: Phones) -> None:
    alice, bob_tab1, bob_tab2 = phone("alice"), phone("bob"), phone("bob")
    online(alice, "bob")
    alice.dial("bob")
    bob_tab1.wait_visible("#incoming")
    bob_tab2.wait_visible("#incoming")
    bob_tab2.click("#accept")
    bob_tab1.wait_hidden("#incoming")
    assert not bob_tab1.page.evaluate("window.talkbox.ringtone.ringing")
    bob_tab2.wait_connected()
    assert_audio_flows(alice)
    assert_audio_flows(bob_tab2)
    bob_tab1.wait_text("#call-status", "Connected on another device")
    assert not bob_tab1.page.evaluate("window.talkbox.media.peers.size")


def test_reload_mid_call_restores_the_call(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    started = time.monotonic()
    bob.page.reload()
    bob.wait_visible("#call")
    bob.wait_connected()
    elapsed = time.monotonic() - started
    print(f"reload -> connected again: {elapsed * 1000:.0f} ms")
    assert elapsed < 3.0
    alice.wait_connected()
    assert_audio_flows(bob)
    assert_audio_flows(alice)
    bob.wait_text("#call-peer", "alice")
    bob.wait_text("#call-status", "Connected")


DENY_MICROPHONE = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


def test_microphone_denied_is_explained(phone: Phones) -> None:
    alice, _ = phone("alice", DENY_MICROPHONE), phone("bob")
    online(alice, "bob")
    alice.dial("bob")
    alice.wait_text("#message", "Microphone access was denied")
    assert not alice.visible("#call")


def test_a_duplicated_tab_gets_its_own_device(phone: Phones) -> None:
    """A duplicated tab inherits sessionStorage (the device id); both tabs must still ring."""
    alice, bob = phone("alice"), phone("bob")
    device = bob.page.evaluate("window.talkbox.device")
    copy = phone("bob", f"sessionStorage.setItem('talkbox-device', '{device}')")
    assert copy.page.evaluate("window.talkbox.device") != device
    online(alice, "bob")
    alice.dial("bob")
    bob.wait_visible("#incoming")
    copy.wait_visible("#incoming")
    assert "another tab" not in bob.text("#message")


def test_closing_the_tab_ends_the_call(phone: Phones) -> None:
    alice, bob, _ = answered(phone)
    bob.page.close()
    alice.wait_hidden("#call", timeout=GRACE + 4)
    alice.wait_text("#message", "Call ended.")


UNNAMED_CONTROLS = """
() => [...document.querySelectorAll("button, input")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => {
    if (el.tagName === "BUTTON") return !(el.getAttribute("aria-label") || el.innerText.trim());
    return !(el.labels && el.labels.length) && !el.getAttribute("aria-label");
  })
  .map((el) => el.outerHTML)
"""


def test_keyboard_only_call_with_labelled_controls(phone: Phones) -> None:
    alice, bob = phone("alice"), phone("bob")
    online(alice, "bob")
    assert alice.page.evaluate(UNNAMED_CONTROLS) == []
    alice.page.focus("#dial-to")
    alice.page.keyboard.type("bob")
    alice.page.keyboard.press("Enter")
    bob.wait_visible("#incoming")
    assert bob.page.evaluate("document.activeElement.id") == "accept"  # focus moved to Accept
    assert bob.page.evaluate(UNNAMED_CONTROLS) == []
    bob.page.keyboard.press("Enter")
    alice.wait_connected()
    assert alice.page.evaluate("document.activeElement.id") == "hangup"
    alice.page.keyboard.press("Enter")
    bob.wait_hidden("#call")
