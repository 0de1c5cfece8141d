"""Room operations on Twilio driven by webhooks: mute and hold, cold and warm transfer (completed,
canceled, or ended on its own), telephones in and out. Adding a third party and kicking one are
flows of :mod:`tests.web.test_twilio_flows`; the three-way call's exact requests are checked here.

Each flow is played in order and replayed with every phase shuffled and partly duplicated
(the harness of :mod:`tests.web.test_twilio_flows`); the REST requests talkbox sent are compared
exactly, path and form fields, with what Twilio's API reference asks for.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from talkbox import events as ev
from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.providers.twilio.provider import DEFAULT_HOLD_URL
from tests.twilio_sim import (
    CALLER_ID,
    OUR_NUMBER,
    PUBLIC_URL,
    Delivery,
    Leg,
    Room,
    call_sid,
    conference_sid,
    inbound_sid,
    joined,
    voice,
)
from tests.twilio_world import World
from tests.web.test_twilio_flows import (
    BOB_PHONE,
    CAROL_PHONE,
    DONE,
    STRANGER,
    Flow,
    Phases,
    answers,
    browser_calls,
    hangs_up,
    joins,
    room_ends,
    run,
    summary,
)

Talking = Generator[list[Delivery], None, tuple[Room, Leg, Leg]]
Request = tuple[str, str, dict[str, list[str]]]

#: The form fields a comparison keeps: what a request asks for, not the callback plumbing
#: (which ``test_twilio_provider`` checks field by field).
FIELDS = ("From", "To", "Label", "Status", "Muted", "Hold", "HoldUrl", "HoldMethod", "Url")


def requests_sent(world: World) -> list[Request]:
    return [
        (s.method, s.path, {k: v for k, v in s.form.items() if k in FIELDS})
        for s in world.twilio.sent
    ]


def call_id(world: World, index: int) -> str:
    return world.board.get(world.conf_id).calls[index].id


def participant(world: World, index: int) -> tuple[bool, bool]:
    conf = world.board.get(world.conf_id)
    p = conf.participant(conf.calls[index].id)
    return p.muted, p.on_hold


def talking(world: World, to: str) -> Talking:
    """Alice's browser calls ``to``; both end up in the room (two phases)."""
    room, alice, callee = browser_calls(world, to)
    yield joins(world, room, alice)
    yield answers(world, room, callee)
    return room, alice, callee


def participant_path(world: World, sid: str) -> str:
    return f"/Conferences/{conference_sid(world.conf_id)}/Participants/{sid}.json"


# -- flows ----------------------------------------------------------------------------------------
def mute_and_hold(world: World) -> Phases:
    """Alice mutes bob, holds him, resumes him and unmutes him; each step is a REST update and
    Twilio's participant callback confirms it."""
    room, alice, bob = yield from talking(world, "client:bob")
    bob_id = call_id(world, 1)
    world.board.mute(bob_id)
    yield [room.event("participant-mute", world.t(), bob, Muted="true")]
    assert participant(world, 1) == (True, False)
    world.board.hold(bob_id)
    yield [room.event("participant-hold", world.t(), bob, Muted="true", Hold="true")]
    assert participant(world, 1) == (True, True)
    world.board.unhold(bob_id)
    world.board.unmute(bob_id)
    yield [
        room.event("participant-unhold", world.t(), bob, Muted="true", Hold="false"),
        room.event("participant-unmute", world.t(), bob, Muted="false", Hold="false"),
    ]
    assert participant(world, 1) == (False, False)
    yield [
        *hangs_up(world, room, alice, 50),
        *hangs_up(world, room, bob, 48),
        room_ends(world, room),
    ]


def cold_transfer(world: World) -> Phases:
    """Alice talks to bob's phone and hands him to carol's browser: carol is dialled, alice
    leaves at once, bob waits for carol; then bob and carol talk."""
    room, alice, bob = yield from talking(world, BOB_PHONE)
    leg = world.board.transfer(call_id(world, 0), "client:carol")
    carol = Leg(call_sid(2), "client:alice", "client:carol", leg.id)
    yield [*hangs_up(world, room, alice, 20), *answers(world, room, carol)]
    conf = world.board.get(world.conf_id)
    assert conf.status is ConferenceStatus.ACTIVE
    assert [str(c.endpoint) for c in conf.connected()] == [BOB_PHONE, "client:carol"]
    yield hangs_up(world, room, bob, 30)  # carol is left alone: talkbox hangs her up
    yield [*hangs_up(world, room, carol, 12), room_ends(world, room)]


def warm_transfer(world: World, *, complete: bool = True, answered: bool = True) -> Phases:
    """Alice puts bob on hold, talks to carol's phone, then leaves (``complete``) or hangs
    carol up (cancel); bob is resumed either way."""
    room, alice, bob = yield from talking(world, "client:bob")
    leg = world.board.transfer(call_id(world, 0), CAROL_PHONE, warm=True)
    carol = Leg(call_sid(2), CALLER_ID, CAROL_PHONE, leg.id)
    held = room.event("participant-hold", world.t(), bob, Hold="true")
    if answered:
        yield [held, *answers(world, room, carol)]
    else:
        yield [held, carol.status("initiated", world.t()), carol.status("ringing", world.t())]
    conf = world.board.get(world.conf_id)
    assert conf.transfer is not None
    assert participant(world, 1) == (False, True)
    if complete:
        world.board.complete_transfer(world.conf_id)
        gone, stay = alice, carol
    else:
        world.board.cancel_transfer(world.conf_id)
        gone, stay = carol, alice
    resumed = room.event("participant-unhold", world.t(), bob, Hold="false")
    if answered or complete:
        yield [resumed, *hangs_up(world, room, gone, 25)]
    else:
        yield [resumed, carol.status("canceled", world.t())]
    conf = world.board.get(world.conf_id)
    assert conf.transfer is None
    assert participant(world, 1) == (False, False)
    assert conf.status is ConferenceStatus.ACTIVE
    yield [
        *hangs_up(world, room, bob, 40),
        *hangs_up(world, room, stay, 41),
        room_ends(world, room),
    ]


def warm_transfer_canceled(world: World) -> Phases:
    return warm_transfer(world, complete=False)


def warm_transfer_canceled_while_ringing(world: World) -> Phases:
    return warm_transfer(world, complete=False, answered=False)


def warm_transfer_transferor_hangs_up(world: World) -> Phases:
    """Alice, consulting carol while bob waits on hold, simply hangs up: that hands bob to
    carol, and talkbox takes bob off hold itself."""
    room, alice, bob = yield from talking(world, "client:bob")
    leg = world.board.transfer(call_id(world, 0), CAROL_PHONE, warm=True)
    carol = Leg(call_sid(2), CALLER_ID, CAROL_PHONE, leg.id)
    yield [
        room.event("participant-hold", world.t(), bob, Hold="true"),
        *answers(world, room, carol),
    ]
    yield hangs_up(world, room, alice, 30)  # talkbox resumes bob
    yield [room.event("participant-unhold", world.t(), bob, Hold="false")]
    assert participant(world, 1) == (False, False)
    assert world.board.get(world.conf_id).transfer is None
    yield [
        *hangs_up(world, room, bob, 40),
        *hangs_up(world, room, carol, 41),
        room_ends(world, room),
    ]


def warm_transfer_target_does_not_answer(world: World) -> Phases:
    """Carol never answers: the consultation is over, bob is taken off hold, alice and bob
    carry on."""
    room, alice, bob = yield from talking(world, "client:bob")
    leg = world.board.transfer(call_id(world, 0), CAROL_PHONE, warm=True)
    carol = Leg(call_sid(2), CALLER_ID, CAROL_PHONE, leg.id)
    yield [
        room.event("participant-hold", world.t(), bob, Hold="true"),
        carol.status("initiated", world.t()),
        carol.status("ringing", world.t()),
    ]
    yield [  # talkbox resumes bob
        carol.status("no-answer", world.t()),
        room.event("participant-leave", world.t(), carol, ParticipantCallStatus="no-answer"),
    ]
    yield [room.event("participant-unhold", world.t(), bob, Hold="false")]
    assert participant(world, 1) == (False, False)
    assert world.board.get(world.conf_id).transfer is None
    yield [
        *hangs_up(world, room, bob, 40),
        *hangs_up(world, room, alice, 41),
        room_ends(world, room),
    ]


def api_dials_a_phone(world: World) -> Phases:
    """The server (CLI or JSON API) calls alice's browser, then bob's phone once she is in."""
    conf = world.board.dial("client:alice", BOB_PHONE)
    world.conf_id = conf.id
    room = Room(conf.id)
    alice = Leg(call_sid(1), CALLER_ID, "client:alice", conf.calls[0].id)
    bob = Leg(call_sid(2), CALLER_ID, BOB_PHONE, conf.calls[1].id)
    # Alice accepts: Twilio fetches the TwiML of the Url we gave it.
    answered = world.post(
        voice(alice.sid, CALLER_ID, "client:alice", query=_query_of_first_url(world))
    )
    assert joined(answered.data).room == conf.id
    yield [
        alice.status("initiated", world.t()),
        alice.status("ringing", world.t()),
        alice.status("in-progress", world.t()),
        *joins(world, room, alice),
    ]
    yield answers(world, room, bob)
    yield [
        *hangs_up(world, room, bob, 70),
        *hangs_up(world, room, alice, 71),
        room_ends(world, room),
    ]


def _query_of_first_url(world: World) -> str:
    return world.twilio.sent[0].one("Url").split("?", 1)[1]


def phone_caller_transferred(world: World) -> Phases:
    """The contact centre: a telephone calls our number, bob answers (alice stops ringing),
    bob consults carol with the caller on hold, then hands the caller to her."""
    response = world.post(voice(inbound_sid(1), STRANGER, OUR_NUMBER))
    world.conf_id = joined(response.data).room
    room = Room(world.conf_id)
    caller = Leg(inbound_sid(1), STRANGER, OUR_NUMBER, label=call_id(world, 0))
    alice = Leg(call_sid(1), OUR_NUMBER, "client:alice", call_id(world, 1))
    bob = Leg(call_sid(2), OUR_NUMBER, "client:bob", call_id(world, 2))
    yield joins(world, room, caller)
    yield [alice.status("ringing", world.t()), *answers(world, room, bob)]
    yield [alice.status("canceled", world.t())]
    leg = world.board.transfer(bob.call_id or "", "client:carol", warm=True)
    carol = Leg(call_sid(3), OUR_NUMBER, "client:carol", leg.id)
    yield [
        room.event("participant-hold", world.t(), caller, Hold="true"),
        *answers(world, room, carol),
    ]
    world.board.complete_transfer(world.conf_id)
    yield [
        room.event("participant-unhold", world.t(), caller, Hold="false"),
        *hangs_up(world, room, bob, 60),
    ]
    conf = world.board.get(world.conf_id)
    assert [str(c.endpoint) for c in conf.connected()] == [STRANGER, "client:carol"]
    yield [
        *hangs_up(world, room, caller, 90),
        *hangs_up(world, room, carol, 30),
        room_ends(world, room),
    ]


def phone_caller_gives_up(world: World) -> Phases:
    """A telephone calls our number; alice and bob ring; the caller hangs up first."""
    response = world.post(voice(inbound_sid(1), STRANGER, OUR_NUMBER))
    world.conf_id = joined(response.data).room
    room = Room(world.conf_id)
    caller = Leg(inbound_sid(1), STRANGER, OUR_NUMBER, label=call_id(world, 0))
    alice = Leg(call_sid(1), OUR_NUMBER, "client:alice", call_id(world, 1))
    bob = Leg(call_sid(2), OUR_NUMBER, "client:bob", call_id(world, 2))
    yield joins(world, room, caller)
    yield [alice.status("ringing", world.t()), bob.status("ringing", world.t())]
    yield hangs_up(world, room, caller, 9)  # talkbox stops both browsers ringing
    yield [
        alice.status("canceled", world.t()),
        bob.status("canceled", world.t()),
        room_ends(world, room),
    ]


CANCELED = CallStatus.CANCELED, EndReason.CANCELED
EXPECTED: dict[
    str, tuple[Flow, EndReason, str | None, tuple[tuple[str, CallStatus, EndReason], ...]]
] = {
    "mute-and-hold": (
        mute_and_hold,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE)),
    ),
    "cold-transfer": (
        cold_transfer,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), (BOB_PHONE, *DONE), ("client:carol", *DONE)),
    ),
    "warm-transfer-completed": (
        warm_transfer,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE), (CAROL_PHONE, *DONE)),
    ),
    "warm-transfer-canceled": (
        warm_transfer_canceled,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE), (CAROL_PHONE, *DONE)),
    ),
    "warm-transfer-canceled-while-ringing": (
        warm_transfer_canceled_while_ringing,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE), (CAROL_PHONE, *CANCELED)),
    ),
    "warm-transfer-transferor-hangs-up": (
        warm_transfer_transferor_hangs_up,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), ("client:bob", *DONE), (CAROL_PHONE, *DONE)),
    ),
    "warm-transfer-target-does-not-answer": (
        warm_transfer_target_does_not_answer,
        EndReason.COMPLETED,
        None,
        (
            ("client:alice", *DONE),
            ("client:bob", *DONE),
            (CAROL_PHONE, CallStatus.NO_ANSWER, EndReason.NO_ANSWER),
        ),
    ),
    "api-dials-a-phone": (
        api_dials_a_phone,
        EndReason.COMPLETED,
        None,
        (("client:alice", *DONE), (BOB_PHONE, *DONE)),
    ),
    "phone-caller-transferred": (
        phone_caller_transferred,
        EndReason.COMPLETED,
        None,
        (
            (STRANGER, *DONE),
            ("client:alice", *CANCELED),
            ("client:bob", *DONE),
            ("client:carol", *DONE),
        ),
    ),
    "phone-caller-gives-up": (
        phone_caller_gives_up,
        EndReason.CANCELED,
        "client:alice",
        ((STRANGER, *DONE), ("client:alice", *CANCELED), ("client:bob", *CANCELED)),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_room_flow_in_order(name: str) -> None:
    flow, reason, party, calls = EXPECTED[name]
    world = run(flow)
    assert summary(world) == (ConferenceStatus.ENDED, reason, party, calls)
    assert len(world.recorder.of(ev.ConferenceEnded)) == 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_room_flow_shuffled_and_duplicated(name: str, seed: int) -> None:
    flow = EXPECTED[name][0]
    world, in_order = run(flow, seed=seed), run(flow)
    assert summary(world) == summary(in_order)
    assert len(world.recorder.of(ev.ConferenceEnded)) == 1
    assert creates(world) == creates(in_order)  # duplicated callbacks never dial anybody again


def creates(world: World) -> list[str]:
    """Who talkbox asked Twilio to dial, in order."""
    return [
        s.one("To")
        for s in world.twilio.sent
        if s.method == "POST" and s.path.endswith(("/Calls.json", "/Participants.json"))
    ]


# -- the exact REST requests ----------------------------------------------------------------------
def add(conf_id: str, from_: str, to: str, label: str) -> Request:
    return (
        "POST",
        f"/Conferences/{conf_id}/Participants.json",
        {"From": [from_], "To": [to], "Label": [label]},
    )


def hang(sid: str, status: str = "completed") -> Request:
    return ("POST", f"/Calls/{sid}.json", {"Status": [status]})


def test_mute_and_hold_requests() -> None:
    world = run(mute_and_hold)
    bob = participant_path(world, call_sid(1))
    assert requests_sent(world) == [
        add(world.conf_id, "client:alice", "client:bob", call_id(world, 1)),
        ("POST", bob, {"Muted": ["true"]}),
        ("POST", bob, {"Hold": ["true"], "HoldUrl": [DEFAULT_HOLD_URL], "HoldMethod": ["GET"]}),
        ("POST", bob, {"Hold": ["false"]}),
        ("POST", bob, {"Muted": ["false"]}),
        hang(call_sid(1)),  # alice hung up first: bob is alone
    ]
    names = [e.name for e in world.recorder.events if isinstance(e, ev.CallEvent)]
    flags = [n for n in names if n.startswith("participant-") and n != "participant-joined"]
    assert flags[:4] == [
        "participant-muted",
        "participant-held",
        "participant-resumed",
        "participant-unmuted",
    ]


def test_three_way_requests() -> None:
    from tests.web.test_twilio_flows import three_way

    world = run(three_way)
    assert requests_sent(world) == [
        add(world.conf_id, "client:alice", "client:bob", call_id(world, 1)),
        add(world.conf_id, CALLER_ID, CAROL_PHONE, call_id(world, 2)),
        hang(inbound_sid(1)),  # bob and carol left: alice is alone
    ]


def test_cold_transfer_requests() -> None:
    world = run(cold_transfer)
    assert requests_sent(world) == [
        add(world.conf_id, CALLER_ID, BOB_PHONE, call_id(world, 1)),
        add(world.conf_id, "client:alice", "client:carol", call_id(world, 2)),
        hang(inbound_sid(1)),  # the transferor leaves at once
        hang(call_sid(2)),  # bob hung up: carol is alone
    ]
    (started,) = world.recorder.of(ev.TransferStarted)
    assert isinstance(started, ev.TransferStarted)
    assert (started.call_id, started.target, started.warm) == (
        call_id(world, 0),
        "client:carol",
        False,
    )


@pytest.mark.parametrize(
    ("flow", "ending"),
    [
        (warm_transfer, [hang(inbound_sid(1))]),
        (warm_transfer_canceled, [hang(call_sid(2))]),
        (warm_transfer_canceled_while_ringing, [hang(call_sid(2), "canceled")]),
    ],
)
def test_warm_transfer_requests(flow: Flow, ending: list[Request]) -> None:
    world = run(flow)
    bob = participant_path(world, call_sid(1))
    hold = {"Hold": ["true"], "HoldUrl": [DEFAULT_HOLD_URL], "HoldMethod": ["GET"]}
    last = call_sid(2) if flow is warm_transfer else inbound_sid(1)
    assert requests_sent(world) == [
        add(world.conf_id, "client:alice", "client:bob", call_id(world, 1)),
        ("POST", bob, hold),  # bob waits while alice talks to carol
        add(world.conf_id, CALLER_ID, CAROL_PHONE, call_id(world, 2)),
        ("POST", bob, {"Hold": ["false"]}),  # bob is resumed first ...
        *ending,  # ... then alice leaves (complete) or carol is hung up (cancel)
        hang(last),  # bob hung up last-but-one: the one left is hung up
    ]
    finished = ev.TransferCompleted if flow is warm_transfer else ev.TransferCanceled
    (event,) = world.recorder.of(finished)
    assert isinstance(event, finished)
    assert event.target_call_id == call_id(world, 2)


@pytest.mark.parametrize(
    ("flow", "finished"),
    [
        (warm_transfer_transferor_hangs_up, ev.TransferCompleted),
        (warm_transfer_target_does_not_answer, ev.TransferCanceled),
    ],
)
def test_a_warm_transfer_that_ends_on_its_own_resumes_the_held_party(
    flow: Flow, finished: type[ev.Event]
) -> None:
    world = run(flow)
    bob = participant_path(world, call_sid(1))
    hold = {"Hold": ["true"], "HoldUrl": [DEFAULT_HOLD_URL], "HoldMethod": ["GET"]}
    assert requests_sent(world)[1:4] == [
        ("POST", bob, hold),
        add(world.conf_id, CALLER_ID, CAROL_PHONE, call_id(world, 2)),
        ("POST", bob, {"Hold": ["false"]}),  # nobody asked: the transfer ended by itself
    ]
    assert len(world.recorder.of(finished)) == 1


def test_api_dial_places_the_first_leg_then_adds_the_phone() -> None:
    world = run(api_dials_a_phone)
    conf = world.board.get(world.conf_id)
    alice, bob = conf.calls
    first = (f"{PUBLIC_URL}/twilio/voice?conference={conf.id}&call={alice.id}",)
    assert requests_sent(world) == [
        ("POST", "/Calls.json", {"From": [CALLER_ID], "To": ["client:alice"], "Url": [*first]}),
        add(conf.id, CALLER_ID, BOB_PHONE, bob.id),
        hang(call_sid(1)),  # bob hung up first: alice is alone
    ]
    assert [c.provider_id for c in conf.calls] == [call_sid(1), call_sid(2)]


def test_phone_caller_giving_up_stops_every_device_ringing() -> None:
    world = run(phone_caller_gives_up)
    conf = world.board.get(world.conf_id)
    assert requests_sent(world) == [
        add(conf.id, OUR_NUMBER, "client:alice", conf.calls[1].id),
        add(conf.id, OUR_NUMBER, "client:bob", conf.calls[2].id),
        hang(call_sid(1), "canceled"),
        hang(call_sid(2), "canceled"),
    ]


@pytest.mark.parametrize("complete", [True, False])
def test_a_warm_transfer_finished_before_twilio_reports_the_hold_still_resumes(
    complete: bool,
) -> None:
    """Twilio's participant-hold callback is asynchronous: alice may finish the transfer
    before it arrives. The party talkbox put on hold must be resumed all the same, or it
    stays on hold music at Twilio for the rest of the call."""

    def flow(world: World) -> Phases:
        room, _alice, _bob = yield from talking(world, "client:bob")
        leg = world.board.transfer(call_id(world, 0), CAROL_PHONE, warm=True)
        carol = Leg(call_sid(2), CALLER_ID, CAROL_PHONE, leg.id)
        yield answers(world, room, carol)  # no participant-hold callback yet
        if complete:
            world.board.complete_transfer(world.conf_id)
        else:
            world.board.cancel_transfer(world.conf_id)

    world = run(flow)
    bob = participant_path(world, call_sid(1))
    updates = [form for method, path, form in requests_sent(world) if path == bob]
    assert updates == [
        {"Hold": ["true"], "HoldUrl": [DEFAULT_HOLD_URL], "HoldMethod": ["GET"]},
        {"Hold": ["false"]},
    ]
    assert world.board.get(world.conf_id).transfer is None


def test_phone_caller_transferred_requests() -> None:
    """Every leg dialled for a call that came in on our number shows that number."""
    world = run(phone_caller_transferred)
    conf = world.board.get(world.conf_id)
    caller = participant_path(world, inbound_sid(1))
    hold = {"Hold": ["true"], "HoldUrl": [DEFAULT_HOLD_URL], "HoldMethod": ["GET"]}
    assert requests_sent(world)[:6] == [
        add(conf.id, OUR_NUMBER, "client:alice", conf.calls[1].id),
        add(conf.id, OUR_NUMBER, "client:bob", conf.calls[2].id),
        hang(call_sid(1), "canceled"),  # bob answered first
        ("POST", caller, hold),
        add(conf.id, OUR_NUMBER, "client:carol", conf.calls[3].id),
        ("POST", caller, {"Hold": ["false"]}),
    ]
    assert requests_sent(world)[6] == hang(call_sid(2))  # bob leaves
