"""The local provider driven through a real switchboard, with a fake device hub and timers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from talkbox import events as ev
from talkbox.errors import Conflict, Forbidden
from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.providers import load
from talkbox.providers.local import LocalProvider, is_loopback_candidate
from talkbox.store import MemoryStore
from talkbox.switchboard import Switchboard
from tests.fakes import FakeHub, ManualTimers, Recorder


def inline(work):  # type: ignore[no-untyped-def]
    work()


class World:
    def __init__(self) -> None:
        self.hub = FakeHub()
        self.timers = ManualTimers()
        self.provider = LocalProvider(
            ring_timeout=30, grace=5, loopback_only=True, schedule=self.timers
        )
        self.board = Switchboard(MemoryStore(), self.provider, run_effect=inline)
        self.provider.connect(self.hub, self.board.apply)

    def online(self, identity: str, *devices: str) -> None:
        self.hub.connected.setdefault(identity, []).extend(devices)
        for device in devices:
            self.provider.device_online(identity, device)

    def offline(self, identity: str, device: str) -> None:
        self.hub.connected[identity].remove(device)
        self.provider.device_offline(identity, device)

    def settle(self) -> None:
        self.provider.drain()

    def invite(self, device: str) -> dict[str, object]:
        return next(m for m in reversed(self.hub.to(device)) if m["type"] == "invite")

    def originate(
        self, caller: str, device: str, to: str, offer: str | None = None, **more: Any
    ) -> tuple[str, str]:
        """A browser call (with an early offer): returns (conference id, caller's leg id)."""
        leg = self.provider.originate(caller, device, offer=offer, **more)
        conf = self.board.incoming(
            f"client:{caller}", to, provider_call_id=leg, status=CallStatus.IN_PROGRESS
        )
        self.provider.attach(leg, conf.id, conf.caller.id)
        self.settle()
        return conf.id, leg


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.provider.close()
    w.board.close()


def test_registered_as_the_local_entry_point() -> None:
    assert load("local") is LocalProvider


def test_browser_call_answered_on_one_of_two_devices(world: World, recorder: Recorder) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1", "b2")
    conf_id, alice_leg = world.originate("alice", "a1", "client:bob")
    assert world.hub.types("b1") == ["invite"]
    assert world.hub.types("b2") == ["invite"]
    call_id = str(world.invite("b1")["call_id"])

    world.provider.ringing("bob", "b1", call_id)
    world.provider.ringing("bob", "b2", call_id)  # the second ack changes nothing
    world.settle()
    media = world.provider.accept("bob", "b2", call_id)
    world.settle()
    assert media["peers"] == [{"leg": alice_leg, "identity": "alice", "on_hold": False}]
    assert world.hub.types("b1")[-1] == "stop-ringing"
    conf = world.board.get(conf_id)
    assert conf.status is ConferenceStatus.ACTIVE
    assert [c.status for c in conf.calls] == [CallStatus.IN_PROGRESS] * 2
    assert recorder.names().count("call-ringing") == 1

    bob_leg = str(media["leg"])
    offer = {"type": "offer", "leg": bob_leg, "to": alice_leg, "sdp": "v=0"}
    world.provider.relay("bob", "b2", offer)
    assert world.hub.to("a1")[-1] == {
        "type": "offer",
        "leg": alice_leg,
        "from": bob_leg,
        "sdp": "v=0",
    }
    with pytest.raises(Forbidden):
        world.provider.relay("bob", "b1", offer)  # b1 does not hold the leg

    world.board.hangup(conf.caller.id)
    world.settle()
    assert world.hub.types("a1")[-1] == "hangup"
    assert world.hub.types("b2")[-2:] == ["peer-left", "hangup"]
    conf = world.board.get(conf_id)
    assert conf.status is ConferenceStatus.ENDED
    assert conf.end_reason is EndReason.COMPLETED


def test_reject(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1", "b2")
    conf_id, _ = world.originate("alice", "a1", "client:bob")
    world.provider.reject("bob", "b1", str(world.invite("b1")["call_id"]))
    world.settle()
    assert world.hub.types("b2")[-1] == "stop-ringing"
    assert world.hub.types("a1")[-1] == "hangup"  # the caller is alone: the call ends
    conf = world.board.get(conf_id)
    assert conf.status is ConferenceStatus.ENDED
    assert conf.end_reason is EndReason.REJECTED
    with pytest.raises(Conflict):
        world.provider.accept("bob", "b2", conf.calls[1].id)


def test_nobody_answers(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    conf_id, _ = world.originate("alice", "a1", "client:bob")
    assert world.timers.fire(30) == 1
    world.settle()
    assert world.hub.types("b1")[-1] == "stop-ringing"
    assert world.board.get(conf_id).end_reason is EndReason.NO_ANSWER


def test_caller_cancels_while_it_rings(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    conf_id, _ = world.originate("alice", "a1", "client:bob")
    world.board.hangup(world.board.get(conf_id).caller.id)
    world.settle()
    assert world.hub.types("b1")[-1] == "stop-ringing"
    conf = world.board.get(conf_id)
    assert [c.status for c in conf.calls] == [CallStatus.COMPLETED, CallStatus.CANCELED]
    assert world.timers.fire(30) == 0


def test_offline_callee_fails_with_a_reason(world: World, recorder: Recorder) -> None:
    world.online("alice", "a1")
    conf_id, _ = world.originate("alice", "a1", "client:bob")
    failed = recorder.of(ev.CommandFailed)
    assert len(failed) == 1
    assert isinstance(failed[0], ev.CommandFailed)
    assert failed[0].code == "offline"
    assert "bob is offline" in failed[0].message
    assert world.board.get(conf_id).status is ConferenceStatus.ENDED


def test_api_dial_rings_the_callers_devices_first(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    conf = world.board.dial("client:alice", "client:bob")
    assert world.hub.types("a1") == ["invite"]
    assert world.hub.types("b1") == []
    world.provider.accept("alice", "a1", conf.caller.id)
    world.settle()
    assert world.hub.types("b1") == ["invite"]


def test_mute_goes_to_the_device_and_back_as_an_event(world: World, recorder: Recorder) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    conf_id, _ = world.originate("alice", "a1", "client:bob")
    world.provider.accept("bob", "b1", str(world.invite("b1")["call_id"]))
    world.settle()
    caller = world.board.get(conf_id).caller
    world.board.mute(caller.id)
    world.settle()
    assert world.hub.to("a1")[-1]["type"] == "mute"
    assert world.hub.to("a1")[-1]["muted"] is True
    assert world.board.get(conf_id).participant(caller.id).muted
    assert recorder.names()[-1] == "participant-muted"


def test_a_reloaded_device_resumes_within_the_grace_period(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    conf_id, alice_leg = world.originate("alice", "a1", "client:bob")
    media = world.provider.accept("bob", "b1", str(world.invite("b1")["call_id"]))
    world.settle()
    world.offline("bob", "b1")
    world.online("bob", "b1")
    resume = world.hub.to("b1")[-1]
    assert resume["type"] == "resume"
    assert resume["leg"] == media["leg"]
    assert resume["peers"] == [{"leg": alice_leg, "identity": "alice", "on_hold": False}]
    assert world.timers.fire(5) == 0  # the grace timer was cancelled
    assert world.board.get(conf_id).status is ConferenceStatus.ACTIVE


def test_a_vanished_device_ends_its_legs(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    conf_id, _ = world.originate("alice", "a1", "client:bob")
    world.provider.accept("bob", "b1", str(world.invite("b1")["call_id"]))
    world.settle()
    world.offline("bob", "b1")
    assert world.timers.fire(5) == 1
    world.settle()
    conf = world.board.get(conf_id)
    assert conf.status is ConferenceStatus.ENDED
    assert conf.calls[1].status is CallStatus.FAILED
    assert world.hub.types("a1")[-2:] == ["peer-left", "hangup"]


def test_only_loopback_candidates_are_relayed_on_loopback(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    _, alice_leg = world.originate("alice", "a1", "client:bob")
    media = world.provider.accept("bob", "b1", str(world.invite("b1")["call_id"]))
    for address, relayed in [("127.0.0.1", True), ("192.168.1.5", False), ("x.local", False)]:
        line = f"candidate:1 1 udp 2122260223 {address} 5000 typ host"
        before = len(world.hub.to("a1"))
        world.provider.relay(
            "bob",
            "b1",
            {"type": "ice", "leg": media["leg"], "to": alice_leg, "candidate": {"candidate": line}},
        )
        assert (len(world.hub.to("a1")) > before) is relayed
    assert is_loopback_candidate("candidate:1 1 udp 1 ::1 5000 typ host")


def test_only_the_newest_ended_legs_are_remembered(world: World) -> None:
    world.provider._book.keep_ended = 2
    world.online("alice", "a1")
    world.online("bob", "b1")
    for _ in range(4):
        conf_id, _ = world.originate("alice", "a1", "client:bob")
        world.board.hangup(world.board.get(conf_id).caller.id)
        world.settle()
    assert len(world.provider._book.legs) == 2
    assert len(world.provider._book.by_call) == 2


def test_a_call_goes_out_with_the_callers_offer_and_the_accept_answers_it(world: World) -> None:
    world.online("alice", "a1")
    world.online("bob", "b1")
    loopback = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
    lan = {"candidate": "candidate:2 1 udp 1 192.168.1.7 5000 typ host", "sdpMid": "0"}
    conf_id, leg = world.originate(
        "alice", "a1", "client:bob", offer="v=0 offer", candidates=[loopback, lan]
    )
    invite = world.invite("b1")
    # The offer and the candidates gathered with it; only loopback ones on a loopback server.
    offer = {"from": leg, "sdp": "v=0 offer", "candidates": [loopback]}
    assert invite["offer"] == offer
    world.online("bob", "b2")  # a device that comes online mid-ring gets the offer too
    assert world.invite("b2")["offer"] == offer

    view = world.provider.accept(
        "bob", "b1", str(invite["call_id"]), answer="v=0 answer", candidates=[lan, loopback]
    )
    assert view["answered"] == leg  # bob's page keeps the connection it answered with
    answer = world.hub.to("a1")[-1]
    assert answer == {
        "type": "answer",
        "leg": leg,
        "from": invite["leg"],
        "sdp": "v=0 answer",
        "candidates": [loopback],
    }
    world.settle()
    assert world.board.get(conf_id).calls[1].status is CallStatus.IN_PROGRESS


def test_an_accept_without_an_answer_falls_back_to_the_callee_offering(world: World) -> None:
    """A page that does not answer early offers (the simulated telephone), or a caller whose
    page reloaded while it rang (its offer is gone with it): no answer is relayed."""
    for reload in (False, True):
        world.online("alice", "a1")
        world.online("bob", "b1")
        conf_id, _ = world.originate("alice", "a1", "client:bob", offer="v=0 offer")
        invite = world.invite("b1")
        if reload:
            world.provider.device_online("alice", "a1")
        answer = "v=0 answer" if reload else None
        view = world.provider.accept("bob", "b1", str(invite["call_id"]), answer=answer)
        assert "answered" not in view
        assert "answer" not in world.hub.types("a1")
        world.board.hangup(world.board.get(conf_id).caller.id)
        world.settle()


def test_adding_someone_while_the_first_callee_rings_drops_the_early_offer(world: World) -> None:
    """The caller's page will talk to two peers: everyone offers as usual, and a late early
    answer from the first callee is not relayed (the caller's page dropped that offer)."""
    world.online("alice", "a1")
    world.online("bob", "b1")
    world.online("carol", "c1")
    conf_id, _ = world.originate("alice", "a1", "client:bob", offer="v=0 offer")
    bob_invite = world.invite("b1")
    world.board.add_participant(conf_id, "client:carol")
    world.settle()
    assert "offer" not in world.invite("c1")
    view = world.provider.accept("bob", "b1", str(bob_invite["call_id"]), answer="v=0 answer")
    assert "answered" not in view
    assert "answer" not in world.hub.types("a1")
