"""Twilio failing under a live call: what the user sees and what the store keeps.

:mod:`tests.providers.test_twilio_faults` checks the adapter's retries request by request; here
the same faults hit the switchboard's commands and the effects its rules run, on a call set up
through webhooks. A user's command raises a typed ``ProviderError``; an effect publishes
``command-failed``; either way the failure is logged as an event and the store still describes
what Twilio is actually doing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from talkbox import events as ev
from talkbox.errors import ProviderError
from talkbox.model import CallStatus, ConferenceStatus, EndReason
from tests.providers.test_twilio_faults import ATTEMPTS, FAULTS, Fault
from tests.twilio_sim import (
    FakeTwilio,
    Leg,
    Room,
    call_sid,
    conference_sid,
    inbound_sid,
    invalid_number,
)
from tests.twilio_world import World
from tests.web.test_twilio_flows import BOB_PHONE, CAROL_PHONE, answers, hangs_up
from tests.web.test_twilio_room_flows import talking

#: Faults at the switchboard level: one of each way Twilio can fail.
SOME = ("429", "503", "slow", "dropped")
PARTICIPANT = r"/Conferences/CF\w+/Participants/CA\w+\.json"


@dataclass
class Talking:
    """Alice's browser talking to bob's browser, set up by webhooks, with the builders that
    go on numbering their callbacks."""

    world: World
    room: Room
    alice: Leg
    bob: Leg


@pytest.fixture
def call() -> Iterator[Talking]:
    with FakeTwilio().running() as twilio:
        world = World(twilio)
        phases = talking(world, "client:bob")
        try:
            while True:
                for delivery in next(phases):
                    world.deliver(delivery)
        except StopIteration as done:
            room, alice, bob = done.value
        twilio.sent.clear()
        with world.recorder.listening():
            yield Talking(world, room, alice, bob)


@pytest.fixture
def world(call: Talking) -> World:
    return call.world


def failing(world: World, method: str, path: str, fault: Fault) -> None:
    """Twilio keeps failing these requests: enough for every retry of a few of them."""
    for _ in range(3 * ATTEMPTS):
        world.twilio.fail(method, path, fault.reply)


def failures(world: World) -> list[tuple[str, str | None, str | None]]:
    return [
        (e.command, e.call_id, e.code)
        for e in world.recorder.of(ev.CommandFailed)
        if isinstance(e, ev.CommandFailed)
    ]


def code_of(fault: Fault) -> str | None:
    return (
        str(20000 + fault.status)
        if fault.status and fault.status != 429
        else ("20429" if fault.status == 429 else None)
    )


@pytest.mark.parametrize("fault_name", SOME)
@pytest.mark.parametrize(
    ("command", "method", "path"),
    [
        ("mute", "POST", PARTICIPANT),
        ("hold", "POST", PARTICIPANT),
        ("remove", "DELETE", PARTICIPANT),
        ("hangup", "POST", r"/Calls/CA\w+\.json"),
    ],
)
def test_a_users_command_fails_with_a_typed_error_and_changes_nothing(
    world: World, command: str, method: str, path: str, fault_name: str
) -> None:
    fault = FAULTS[fault_name]
    failing(world, method, path, fault)
    before = world.board.get(world.conf_id)
    bob = before.calls[1].id
    logged = len(world.board.store.events(limit=100_000))
    with pytest.raises(ProviderError) as caught:
        getattr(world.board, command)(bob)
    assert caught.value.status == fault.status
    assert failures(world) == [(command, bob, code_of(fault))]
    after = world.board.get(world.conf_id)
    assert (after.status, after.calls, after.participants) == (
        before.status,
        before.calls,
        before.participants,
    )
    (entry,) = world.board.store.events(after=logged)
    assert isinstance(entry.event, ev.CommandFailed)  # the failure is in the log, nothing else


@pytest.mark.parametrize("fault_name", SOME)
def test_adding_a_participant_that_twilio_refuses_fails_that_leg_only(
    world: World, fault_name: str
) -> None:
    fault = FAULTS[fault_name]
    failing(world, "POST", r"/Conferences/conf_\w+/Participants\.json", fault)
    carol = world.board.add_participant(world.conf_id, CAROL_PHONE)
    conf = world.board.get(world.conf_id)
    assert conf.call(carol.id).status is CallStatus.FAILED
    assert conf.status is ConferenceStatus.ACTIVE
    assert [str(c.endpoint) for c in conf.connected()] == ["client:alice", "client:bob"]
    assert failures(world) == [("add", carol.id, code_of(fault))]
    creates = len(world.twilio.sent)
    assert creates == (ATTEMPTS if fault.unprocessed else 1)  # a create is never repeated blindly


@pytest.mark.parametrize("fault_name", SOME)
def test_a_cold_transfer_to_a_party_twilio_cannot_dial(call: Talking, fault_name: str) -> None:
    """Cold means the transferor leaves at once, whatever becomes of the target: alice's
    hang-up goes out although carol's leg failed. Once Twilio reports alice gone, bob is
    alone and is hung up too; ``command-failed`` said why."""
    world, alice = call.world, call.alice
    failing(world, "POST", r"/Conferences/conf_\w+/Participants\.json", FAULTS[fault_name])
    target = world.board.transfer(alice.label or "", CAROL_PHONE)
    conf = world.board.get(world.conf_id)
    assert conf.call(target.id).status is CallStatus.FAILED
    assert [c[0] for c in failures(world)] == ["add"]
    assert world.twilio.sent[-1].path == f"/Calls/{inbound_sid(1)}.json"  # alice leaves
    for delivery in hangs_up(world, call.room, alice, 30):
        world.deliver(delivery)
    assert world.twilio.sent[-1].path == f"/Calls/{call_sid(1)}.json"  # bob, left alone
    assert world.board.get(world.conf_id).status is ConferenceStatus.ENDING


@pytest.mark.parametrize("fault_name", [*SOME, "invalid-number"])
def test_a_warm_transfer_to_a_party_twilio_cannot_dial_resumes_the_held_party(
    call: Talking, fault_name: str
) -> None:
    world = call.world
    fault = FAULTS[fault_name].reply if fault_name in FAULTS else invalid_number(CAROL_PHONE)
    for _ in range(3 * ATTEMPTS):
        world.twilio.fail("POST", r"/Conferences/conf_\w+/Participants\.json", fault)
    conf = world.board.get(world.conf_id)
    target = world.board.transfer(conf.calls[0].id, CAROL_PHONE, warm=True)
    bob = f"/Conferences/{conference_sid(conf.id)}/Participants/{call_sid(1)}.json"
    updates = [s.form.get("Hold") for s in world.twilio.sent if s.path == bob]
    assert updates == [["true"], ["false"]]  # held for the consultation, resumed at once
    after = world.board.get(world.conf_id)
    assert after.transfer is None
    assert after.call(target.id).status is CallStatus.FAILED
    assert [c[0] for c in failures(world)] == ["add"]
    assert [e.name for e in world.recorder.events if e.name.startswith("transfer-")] == [
        "transfer-started",
        "transfer-canceled",
    ]


@pytest.mark.parametrize("fault_name", SOME)
def test_ending_a_room_while_twilio_fails_keeps_the_legs_until_twilio_reports(
    world: World, fault_name: str
) -> None:
    fault = FAULTS[fault_name]
    failing(world, "POST", r"/Calls/CA\w+\.json", fault)
    world.board.end_conference(world.conf_id)
    conf = world.board.get(world.conf_id)
    assert conf.status is ConferenceStatus.ENDING
    assert [c.status for c in conf.calls] == [CallStatus.IN_PROGRESS] * 2  # still up at Twilio
    assert sorted(failures(world)) == sorted(("hangup", c.id, code_of(fault)) for c in conf.calls)


@pytest.mark.parametrize("fault_name", ["500", "503", "dropped", "slow"])
def test_dialling_when_twilio_fails_ends_the_room_at_once(fault_name: str) -> None:
    fault = FAULTS[fault_name]
    with FakeTwilio().running() as twilio:
        world = World(twilio)
        failing(world, "POST", r"/Calls\.json", fault)
        with world.recorder.listening(), pytest.raises(ProviderError) as caught:
            world.board.dial("client:alice", BOB_PHONE)
    assert caught.value.status == fault.status
    assert len(twilio.sent) == 1  # never placed twice
    assert world.board.live() == []
    (ended,) = world.board.history()
    assert ended.reason is EndReason.FAILED
    (failed,) = world.recorder.of(ev.CommandFailed)
    assert isinstance(failed, ev.CommandFailed)
    assert failed.command == "place"


@pytest.mark.parametrize("fault_name", SOME)
def test_recovery_while_twilio_fails_changes_nothing(world: World, fault_name: str) -> None:
    failing(world, "GET", r"/Calls\.json", FAULTS[fault_name])
    store = world.board.store
    before = (store.live(), store.events(limit=100_000))
    with pytest.raises(ProviderError):
        world.board.reconcile()
    assert (store.live(), store.events(limit=100_000)) == before


def test_recovery_closes_a_finished_leg_even_if_twilio_cannot_say_how(world: World) -> None:
    """Twilio lists alice only; bob's record cannot be fetched (503): his leg is closed as
    completed (he had answered) rather than left live for ever."""
    from tests.twilio_sim import _call_body

    alice = _call_body(inbound_sid(1), "client:bob", "client:alice", "in-progress", "inbound")
    world.twilio.live_calls["in-progress"] = [alice]
    failing(world, "GET", rf"/Calls/{call_sid(1)}\.json", FAULTS["503"])
    result = world.board.reconcile()
    conf = world.board.get(world.conf_id)
    assert result.closed == [conf.calls[1].id]
    assert conf.calls[1].status is CallStatus.COMPLETED
    assert conf.status is ConferenceStatus.ENDING  # alice, alone now, is being hung up


@pytest.mark.parametrize("fault_name", SOME)
def test_resuming_after_a_transfer_ended_on_its_own_fails_visibly(
    call: Talking, fault_name: str
) -> None:
    """The transferor hangs up mid-consultation and Twilio refuses to take bob off hold: the
    failure is published (a user interface can offer "resume"), and the store still shows
    bob on hold, which is what Twilio is doing."""
    fault = FAULTS[fault_name]
    world, room, alice, bob = call.world, call.room, call.alice, call.bob
    conf = world.board.get(world.conf_id)
    target = world.board.transfer(conf.calls[0].id, CAROL_PHONE, warm=True)
    carol = Leg(call_sid(2), "+14155552671", CAROL_PHONE, target.id)
    for delivery in [
        room.event("participant-hold", world.t(), bob, Hold="true"),
        *answers(world, room, carol),
    ]:
        world.deliver(delivery)
    failing(world, "POST", PARTICIPANT, fault)
    for delivery in hangs_up(world, room, alice, 20):
        world.deliver(delivery)
    assert failures(world) == [("resume", conf.calls[1].id, code_of(fault))]
    after = world.board.get(world.conf_id)
    assert after.transfer is None
    assert after.participant(conf.calls[1].id).on_hold
    assert after.status is ConferenceStatus.ACTIVE


@pytest.mark.parametrize("fault_name", SOME)
def test_a_warm_transfer_whose_second_hold_fails_takes_the_first_off_hold(
    call: Talking, fault_name: str
) -> None:
    """A three-way room: alice starts a warm transfer, bob is put on hold, then Twilio
    refuses to hold carol. The transfer did not start; bob must not stay on hold music."""
    world, room = call.world, call.room
    carol_call = world.board.add_participant(world.conf_id, CAROL_PHONE)
    carol = Leg(call_sid(2), "+14155552671", CAROL_PHONE, carol_call.id)
    for delivery in answers(world, room, carol):
        world.deliver(delivery)
    world.twilio.sent.clear()
    failing(
        world, "POST", rf"/Conferences/CF\w+/Participants/{carol.sid}\.json", FAULTS[fault_name]
    )
    conf = world.board.get(world.conf_id)
    with pytest.raises(ProviderError):
        world.board.transfer(conf.calls[0].id, "client:dave", warm=True)
    bob = f"/Conferences/{conference_sid(conf.id)}/Participants/{call_sid(1)}.json"
    assert [s.form.get("Hold") for s in world.twilio.sent if s.path == bob] == [["true"], ["false"]]
    assert not any(s.path.endswith("/Participants.json") for s in world.twilio.sent)  # no dave
    assert world.board.get(world.conf_id).transfer is None
    assert [c[0] for c in failures(world)] == ["hold"]
