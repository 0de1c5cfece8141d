"""Whole calls driven only by Twilio's webhooks and fake REST responses.

A flow is a generator of *phases*: the webhooks Twilio sends between two of our REST requests.
Inside a phase Twilio gives no ordering guarantee, so each flow is also replayed with every
phase shuffled and partly duplicated; the final state must be the same. Phases follow
causality only: a leg's callbacks cannot precede the request that created the leg.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from talkbox import events as ev
from talkbox.errors import ProviderError
from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.providers.twilio import twiml
from tests.twilio_sim import (
    CALLER_ID,
    OUR_NUMBER,
    Delivery,
    FakeTwilio,
    Leg,
    Room,
    call_sid,
    conference_sid,
    inbound_sid,
    invalid_number,
    joined,
    voice,
)
from tests.twilio_world import World

Phases = Iterator[list[Delivery]]
Flow = Callable[[World], Phases]
Summary = tuple[object, ...]

BOB_PHONE = "+14155552672"
CAROL_PHONE = "+14155552673"
STRANGER = "+12125551234"


def summary(world: World) -> Summary:
    conf = world.board.get(world.conf_id)
    return (
        conf.status,
        conf.end_reason,
        str(conf.end_party) if conf.end_party else None,
        tuple((str(c.endpoint), c.status, c.end_reason) for c in conf.calls),
    )


def run(flow: Flow, *, seed: int | None = None, fail_add: str | None = None) -> World:
    """Play ``flow`` against a fresh talkbox and fake Twilio; shuffle and duplicate each phase
    when ``seed`` is given."""
    rng = random.Random(seed) if seed is not None else None
    with FakeTwilio().running() as twilio:
        if fail_add:
            twilio.fail(
                "POST", r"/Conferences/conf_\w+/Participants\.json", invalid_number(fail_add)
            )
        world = World(twilio)
        with world.recorder.listening():
            for phase in flow(world):
                batch = list(phase)
                if rng is not None:
                    batch += rng.sample(batch, k=len(batch) // 2 + 1)
                    rng.shuffle(batch)
                for delivery in batch:
                    world.deliver(delivery)
    return world


def browser_calls(world: World, to: str) -> tuple[Room, Leg, Leg]:
    """Alice's browser dials ``to`` through the TwiML App; returns the room, her leg and the
    callee's leg (to be created by participants.create, CallSid predictable)."""
    response = world.post(voice(inbound_sid(1), "client:alice", to))
    twiml = joined(response.data)
    world.conf_id = twiml.room
    conf = world.board.get(twiml.room)
    assert twiml.label == conf.caller.id
    alice = Leg(inbound_sid(1), "client:alice", to, label=conf.caller.id)
    callee = Leg(world.twilio.next_sid(), "client:alice", to, conf.calls[1].id)
    return Room(twiml.room), alice, callee


def joins(world: World, room: Room, leg: Leg) -> list[Delivery]:
    """The caller's leg enters the room (it is already connected to our TwiML)."""
    t = world.t()
    return [room.event("participant-join", t, leg), room.event("conference-start", t)]


def answers(world: World, room: Room, leg: Leg) -> list[Delivery]:
    return [
        leg.status("initiated", world.t()),
        leg.status("ringing", world.t()),
        leg.status("in-progress", world.t()),
        room.event("participant-join", world.t(), leg),
    ]


def hangs_up(world: World, room: Room, leg: Leg, talked: int) -> list[Delivery]:
    return [
        room.event("participant-leave", world.t(), leg),
        leg.status("completed", world.t(), duration=talked),
    ]


def room_ends(world: World, room: Room) -> Delivery:
    return room.event("conference-end", world.t(), ReasonConferenceEnded="last-participant-left")


# -- flows ----------------------------------------------------------------------------------
def browser_to_browser(world: World) -> Phases:
    room, alice, bob = browser_calls(world, "client:bob")
    yield joins(world, room, alice)
    yield answers(world, room, bob)
    yield [
        *hangs_up(world, room, alice, 40),
        *hangs_up(world, room, bob, 38),
        room_ends(world, room),
    ]


def browser_to_phone(world: World) -> Phases:
    room, alice, bob = browser_calls(world, BOB_PHONE)
    yield joins(world, room, alice)
    yield answers(world, room, bob)
    yield [
        *hangs_up(world, room, alice, 20),
        *hangs_up(world, room, bob, 18),
        room_ends(world, room),
    ]


def callee_hangs_up_first(world: World) -> Phases:
    room, alice, bob = browser_calls(world, BOB_PHONE)
    yield joins(world, room, alice)
    yield answers(world, room, bob)
    yield hangs_up(world, room, bob, 12)  # talkbox then hangs up alice
    yield [*hangs_up(world, room, alice, 14), room_ends(world, room)]


def no_answer(world: World) -> Phases:
    room, alice, bob = browser_calls(world, "client:bob")
    yield joins(world, room, alice)
    yield [
        bob.status("initiated", world.t()),
        bob.status("ringing", world.t()),
        bob.status("no-answer", world.t()),
        room.event("participant-leave", world.t(), bob, ParticipantCallStatus="no-answer"),
    ]
    yield [*hangs_up(world, room, alice, 31), room_ends(world, room)]


def busy(world: World) -> Phases:
    room, alice, bob = browser_calls(world, BOB_PHONE)
    yield joins(world, room, alice)
    yield [bob.status("initiated", world.t()), bob.status("busy", world.t())]
    yield [*hangs_up(world, room, alice, 3), room_ends(world, room)]


def invalid_callee(world: World) -> Phases:
    room, alice, _ = browser_calls(world, BOB_PHONE)
    yield joins(world, room, alice)  # participants.create answers 21211
    yield [*hangs_up(world, room, alice, 2), room_ends(world, room)]


def three_way(world: World, *, kick: bool = False) -> Phases:
    room, alice, bob = browser_calls(world, "client:bob")
    yield joins(world, room, alice)
    yield answers(world, room, bob)
    carol_call = world.board.add_participant(world.conf_id, CAROL_PHONE)
    carol = Leg(call_sid(2), CALLER_ID, CAROL_PHONE, carol_call.id)
    yield answers(world, room, carol)
    if kick:
        world.board.remove(carol_call.id)
        yield [
            room.event(
                "participant-leave", world.t(), carol, ReasonParticipantLeft="participant_kicked"
            ),
            carol.status("completed", world.t(), duration=9),
        ]
        assert world.board.get(world.conf_id).status is ConferenceStatus.ACTIVE
        yield [
            *hangs_up(world, room, bob, 30),
            *hangs_up(world, room, alice, 32),
            room_ends(world, room),
        ]
        return
    yield hangs_up(world, room, bob, 30)  # two remain: the room goes on
    yield hangs_up(world, room, carol, 20)  # alice alone: talkbox hangs her up
    yield [*hangs_up(world, room, alice, 33), room_ends(world, room)]


def kicked_participant(world: World) -> Phases:
    return three_way(world, kick=True)


def phone_to_browsers(world: World) -> Phases:
    """A telephone calls our number, owned by alice and bob: both ring, bob answers first."""
    response = world.post(voice(inbound_sid(1), STRANGER, OUR_NUMBER))
    twiml = joined(response.data)
    world.conf_id = twiml.room
    room = Room(twiml.room)
    conf = world.board.get(twiml.room)
    caller = Leg(inbound_sid(1), STRANGER, OUR_NUMBER, label=conf.caller.id)
    alice = Leg(call_sid(1), STRANGER, "client:alice", conf.calls[1].id)
    bob = Leg(call_sid(2), STRANGER, "client:bob", conf.calls[2].id)
    yield joins(world, room, caller)
    yield [
        alice.status("initiated", world.t()),
        bob.status("initiated", world.t()),
        alice.status("ringing", world.t()),
        bob.status("ringing", world.t()),
    ]
    yield [bob.status("in-progress", world.t()), room.event("participant-join", world.t(), bob)]
    yield [  # talkbox canceled alice's leg when bob answered
        alice.status("canceled", world.t()),
        room.event("participant-leave", world.t(), alice, ParticipantCallStatus="canceled"),
    ]
    yield [
        *hangs_up(world, room, caller, 60),
        *hangs_up(world, room, bob, 58),
        room_ends(world, room),
    ]


DONE = CallStatus.COMPLETED, EndReason.COMPLETED
EXPECTED: dict[
    str, tuple[Flow, EndReason, str | None, tuple[tuple[str, CallStatus, EndReason], ...]]
] = {
    "browser-to-browser": (
        browser_to_browser,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE)),
    ),
    "browser-to-phone": (
        browser_to_phone,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), (BOB_PHONE, *DONE)),
    ),
    "callee-hangs-up-first": (
        callee_hangs_up_first,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), (BOB_PHONE, *DONE)),
    ),
    "no-answer": (
        no_answer,
        EndReason.NO_ANSWER,
        "client:bob",
        (("client:alice", *DONE), ("client:bob", CallStatus.NO_ANSWER, EndReason.NO_ANSWER)),
    ),
    "busy": (
        busy,
        EndReason.BUSY,
        BOB_PHONE,
        (("client:alice", *DONE), (BOB_PHONE, CallStatus.BUSY, EndReason.BUSY)),
    ),
    "three-way": (
        three_way,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE), (CAROL_PHONE, *DONE)),
    ),
    "kicked-participant": (
        kicked_participant,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE), (CAROL_PHONE, *DONE)),
    ),
    "phone-to-browsers": (
        phone_to_browsers,
        EndReason.COMPLETED,
        None,
        (
            (STRANGER, *DONE),
            ("client:alice", CallStatus.CANCELED, EndReason.CANCELED),
            ("client:bob", *DONE),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_flow_in_order(name: str) -> None:
    flow, reason, party, calls = EXPECTED[name]
    world = run(flow)
    assert summary(world) == (ConferenceStatus.ENDED, reason, party, calls)
    ended = world.recorder.of(ev.ConferenceEnded)
    assert len(ended) == 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_flow_shuffled_and_duplicated(name: str, seed: int) -> None:
    flow = EXPECTED[name][0]
    world = run(flow, seed=seed)
    assert summary(world) == summary(run(flow))
    assert len(world.recorder.of(ev.ConferenceEnded)) == 1


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_invalid_number_ends_the_room_with_that_reason(seed: int | None) -> None:
    world = run(invalid_callee, seed=seed, fail_add=BOB_PHONE)
    assert summary(world) == (
        ConferenceStatus.ENDED,
        EndReason.INVALID_NUMBER,
        BOB_PHONE,
        (("client:alice", *DONE), (BOB_PHONE, CallStatus.FAILED, EndReason.INVALID_NUMBER)),
    )
    (failed,) = world.recorder.of(ev.CommandFailed)
    assert failed.code == "21211"
    creates = world.twilio.requests("POST", r"/Conferences/conf_\w+/Participants\.json")
    assert len(creates) == 1  # a refused create is not repeated
    hangups = world.twilio.requests("POST", rf"/Calls/{inbound_sid(1)}\.json")
    assert hangups[0].form == farewell("invalid-number")  # told why, then hung up


# -- what talkbox asked Twilio for, in order ------------------------------------------------------
def farewell(reason: str) -> dict[str, list[str]]:
    """The form of ``calls(sid).update`` that tells a caller left alone why, then hangs up."""
    return {"Twiml": [twiml.goodbye(twiml.FAREWELLS[reason])]}


def rest(world: World) -> list[tuple[str, str, dict[str, list[str]]]]:
    wanted = ("From", "To", "Label", "Status", "Muted", "Hold", "Twiml")
    return [
        (s.method, s.path, {k: v for k, v in s.form.items() if k in wanted})
        for s in world.twilio.sent
    ]


def test_browser_to_browser_requests() -> None:
    world = run(browser_to_browser)
    conf = world.board.get(world.conf_id)
    bob = conf.calls[1]
    assert rest(world) == [
        (
            "POST",
            f"/Conferences/{conf.id}/Participants.json",
            {"From": ["client:alice"], "To": ["client:bob"], "Label": [bob.id]},
        ),
        ("POST", f"/Calls/{call_sid(1)}.json", {"Status": ["completed"]}),  # bob, left alone
    ]
    assert conf.provider_id == conference_sid(conf.id)
    assert [c.provider_id for c in conf.calls] == [inbound_sid(1), call_sid(1)]
    assert conf.calls[0].duration == 40  # Twilio's CallDuration


def test_browser_to_phone_dials_from_our_caller_id() -> None:
    world = run(browser_to_phone)
    assert rest(world)[0][2] == {
        "From": [CALLER_ID],
        "To": [BOB_PHONE],
        "Label": [world.board.get(world.conf_id).calls[1].id],
    }


def test_callee_hanging_up_first_hangs_up_the_caller() -> None:
    world = run(callee_hangs_up_first)
    assert rest(world)[1:] == [("POST", f"/Calls/{inbound_sid(1)}.json", {"Status": ["completed"]})]


def test_ring_group_cancels_the_devices_that_lost() -> None:
    world = run(phone_to_browsers)
    conf = world.board.get(world.conf_id)
    assert conf.tag("twilio_number") == OUR_NUMBER
    assert rest(world) == [
        (
            "POST",
            f"/Conferences/{conf.id}/Participants.json",
            {"From": [OUR_NUMBER], "To": ["client:alice"], "Label": [conf.calls[1].id]},
        ),
        (
            "POST",
            f"/Conferences/{conf.id}/Participants.json",
            {"From": [OUR_NUMBER], "To": ["client:bob"], "Label": [conf.calls[2].id]},
        ),
        ("POST", f"/Calls/{call_sid(1)}.json", {"Status": ["canceled"]}),  # alice stops ringing
        ("POST", f"/Calls/{call_sid(2)}.json", {"Status": ["completed"]}),  # bob, left alone
    ]


def test_kick_deletes_the_participant_and_the_room_goes_on() -> None:
    world = run(kicked_participant)
    cf = conference_sid(world.conf_id)
    assert ("DELETE", f"/Conferences/{cf}/Participants/{call_sid(2)}.json", {}) in rest(world)
    events = [e.name for e in world.recorder.events]
    assert events.count("conference-ended") == 1


def test_no_answer_tells_the_caller_then_hangs_up() -> None:
    world = run(no_answer)
    assert rest(world)[-1] == ("POST", f"/Calls/{inbound_sid(1)}.json", farewell("no-answer"))
    assert "nobody answered" in rest(world)[-1][2]["Twiml"][0]


def test_a_refused_command_is_published_and_changes_nothing() -> None:
    def flow(world: World) -> Phases:
        room, alice, bob = browser_calls(world, "client:bob")
        yield joins(world, room, alice)
        yield answers(world, room, bob)
        before = world.board.get(world.conf_id)
        world.twilio.fail(
            "POST", r"/Conferences/CF\w+/Participants/CA\w+\.json", (404, _not_found())
        )
        with pytest.raises(ProviderError, match="was not found") as caught:
            world.board.mute(before.calls[1].id)
        assert (caught.value.status, caught.value.code) == (404, 20404)
        after = world.board.get(world.conf_id)
        assert (after.calls, after.participants) == (before.calls, before.participants)
        yield [
            *hangs_up(world, room, alice, 5),
            *hangs_up(world, room, bob, 5),
            room_ends(world, room),
        ]

    world = run(flow)
    (failed,) = world.recorder.of(ev.CommandFailed)
    assert isinstance(failed, ev.CommandFailed)
    assert (failed.command, failed.code) == ("mute", "20404")


def _not_found() -> dict[str, object]:
    from tests.twilio_sim import error_body

    return error_body(404, 20404, "The requested resource was not found")


def test_recovery_after_a_restart_reads_twilios_live_view_and_final_states() -> None:
    """Talkbox stops while bob's phone rings; meanwhile bob was busy. On start-up the
    switchboard reconciles with what Twilio lists and the finished call's record."""
    from tests.twilio_sim import _call_body, _conference_body, _participant_body

    with FakeTwilio().running() as twilio:
        world = World(twilio)
        room, alice, bob = browser_calls(world, BOB_PHONE)
        for delivery in joins(world, room, alice):
            world.deliver(delivery)
        world.deliver(bob.status("ringing", world.t()))
        twilio.sent.clear()
        # While down: bob was busy (no longer live); alice still sits in the room.
        twilio.live_calls["in-progress"] = [
            _call_body(alice.sid, BOB_PHONE, "client:alice", "in-progress", "inbound")
        ]
        twilio.live_rooms.append(
            (
                _conference_body(room.sid, world.conf_id),
                [_participant_body(room.sid, alice.sid, alice.label, "connected")],
            )
        )
        finished = _call_body(bob.sid, BOB_PHONE, CALLER_ID, "busy", "outbound-api")
        finished.update(duration="0", end_time="Tue, 25 Nov 2026 17:05:00 +0000")
        twilio.fail("GET", rf"/Calls/{bob.sid}\.json", (200, finished))
        result = world.board.reconcile()
    conf = world.board.get(world.conf_id)
    assert result.closed == [conf.calls[1].id]
    assert conf.calls[1].status is CallStatus.BUSY
    assert conf.status is ConferenceStatus.ENDING  # alice is being hung up
    assert rest(world)[-1] == ("POST", f"/Calls/{alice.sid}.json", farewell("busy"))
