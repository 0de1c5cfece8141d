"""Whole call flows replayed through the switchboard, asserting the exact events published."""

from __future__ import annotations

import pytest

from talkbox import events as ev
from talkbox.errors import ProviderError
from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.providers.base import ParticipantChange
from talkbox.switchboard import Applied, Switchboard
from tests.fakes import Clock, FakeProvider, Phone, Recorder, invalid_number

IN = CallStatus.IN_PROGRESS
JOINED = ParticipantChange.JOINED
LEFT = ParticipantChange.LEFT


def trail(recorder: Recorder) -> list[tuple[str, str | None]]:
    """(event name, endpoint or reason) pairs: compact and exact."""
    out: list[tuple[str, str | None]] = []
    for e in recorder.events:
        if isinstance(e, ev.CallEnded):
            out.append((e.name, f"{e.endpoint} {e.status}/{e.reason}"))
        elif isinstance(e, ev.CallEvent):
            out.append((e.name, e.endpoint))
        elif isinstance(e, ev.ConferenceEnded):
            out.append((e.name, f"{e.reason} {e.party}"))
        else:
            out.append((e.name, None))
    return out


def answer(board: Switchboard, phone: Phone, clock: Clock, seq: int) -> None:
    """A leg rings, is answered and joins the room."""
    board.apply(phone.status(CallStatus.RINGING, clock.tick()))
    board.apply(phone.status(IN, clock.tick()))
    board.apply(phone.member(JOINED, clock.tick(), seq))


def test_two_person_call(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf = board.dial("client:alice", "client:bob")
    assert provider.commands == [("place", conf.id, "client:alice", "CA0001")]
    alice = Phone("CA0001", conf.id)
    answer(board, alice, clock, seq=1)
    assert provider.commands[-1] == ("add", conf.id, "client:bob", "CA0002")
    bob = Phone("CA0002", conf.id)
    answer(board, bob, clock, seq=2)
    assert board.get(conf.id).status is ConferenceStatus.ACTIVE

    clock.tick(30)
    board.apply(alice.member(LEFT, clock.now, 3))
    assert provider.hangups() == ["CA0002"]  # bob is alone: his leg is hung up
    assert board.get(conf.id).status is ConferenceStatus.ENDING
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=31))
    board.apply(bob.member(LEFT, clock.tick(), 4))
    board.apply(bob.status(CallStatus.COMPLETED, clock.tick(), duration=29))

    assert trail(recorder) == [
        ("conference-created", None),
        ("call-created", "client:alice"),
        ("call-created", "client:bob"),
        ("call-ringing", "client:alice"),
        ("call-answered", "client:alice"),
        ("participant-joined", "client:alice"),
        ("conference-started", None),
        ("call-initiated", "client:bob"),
        ("call-ringing", "client:bob"),
        ("call-answered", "client:bob"),
        ("participant-joined", "client:bob"),
        ("participant-left", "client:alice"),
        ("call-ended", "client:alice completed/completed"),
        ("participant-left", "client:bob"),
        ("call-ended", "client:bob completed/completed"),
        ("conference-ended", "completed None"),
    ]
    ended = recorder.of(ev.ConferenceEnded)[0]
    assert isinstance(ended, ev.ConferenceEnded)
    assert ended.parties == ("client:alice", "client:bob")
    assert ended.duration == 31
    assert ended.at == clock.now
    assert board.history("client:bob") == [ended]


def test_three_person_conference(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf = board.dial("client:alice", "client:bob")
    alice, bob = Phone("CA0001", conf.id), Phone("CA0002", conf.id)
    answer(board, alice, clock, 1)
    answer(board, bob, clock, 2)
    carol_leg = board.add_participant(conf.id, "+14155552671")
    assert carol_leg.status is CallStatus.INITIATED  # dialled at once: the room is in use
    assert provider.commands[-1] == ("add", conf.id, "+14155552671", "CA0003")
    carol = Phone("CA0003", conf.id)
    answer(board, carol, clock, 3)
    assert len(board.get(conf.id).connected()) == 3

    recorder.clear()
    board.apply(bob.member(LEFT, clock.tick(), 4))  # two remain: the room goes on
    board.apply(bob.status(CallStatus.COMPLETED, clock.tick(), duration=5))
    assert provider.hangups() == []
    board.apply(carol.member(LEFT, clock.tick(), 5))  # alice alone: the room ends
    assert provider.hangups() == ["CA0001"]
    board.apply(carol.status(CallStatus.COMPLETED, clock.tick(), duration=4))
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=12))
    assert trail(recorder) == [
        ("participant-left", "client:bob"),
        ("call-ended", "client:bob completed/completed"),
        ("participant-left", "+14155552671"),
        ("call-ended", "+14155552671 completed/completed"),
        ("participant-left", "client:alice"),
        ("call-ended", "client:alice completed/completed"),
        ("conference-ended", "completed None"),
    ]


def test_callee_hangs_up_first(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf = board.dial("client:alice", "+14155552671")
    alice, bob = Phone("CA0001", conf.id), Phone("CA0002", conf.id)
    answer(board, alice, clock, 1)
    answer(board, bob, clock, 2)
    recorder.clear()
    board.apply(bob.status(CallStatus.COMPLETED, clock.tick(), duration=20))
    assert provider.hangups() == ["CA0001"]
    board.apply(bob.member(LEFT, clock.tick(), 3))  # late: the leg already ended
    board.apply(alice.member(LEFT, clock.tick(), 4))
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=22))
    assert trail(recorder) == [
        ("participant-left", "+14155552671"),
        ("call-ended", "+14155552671 completed/completed"),
        ("participant-left", "client:alice"),
        ("call-ended", "client:alice completed/completed"),
        ("conference-ended", "completed None"),
    ]


def test_invalid_callee_number_refused_by_provider(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    provider.refuse["+14155552671"] = invalid_number()
    conf = board.dial("client:alice", "+14155552671")
    alice = Phone("CA0001", conf.id)
    answer(board, alice, clock, 1)
    # The callee's placement failed: the leg failed, the room is ending, alice is told why.
    assert provider.commands[-1] == ("farewell", "CA0001", "invalid-number")
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=1))
    names = trail(recorder)
    assert names[-6:] == [
        ("call-initiated", "+14155552671"),
        ("command-failed", None),
        ("call-ended", "+14155552671 failed/invalid-number"),
        ("participant-left", "client:alice"),
        ("call-ended", "client:alice completed/completed"),
        ("conference-ended", "invalid-number +14155552671"),
    ]
    failed = recorder.of(ev.CommandFailed)[0]
    assert isinstance(failed, ev.CommandFailed)
    assert failed.code == "21211"
    assert "not a valid phone number" in failed.message


def test_callee_does_not_answer(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf = board.dial("client:alice", "client:bob")
    alice, bob = Phone("CA0001", conf.id), Phone("CA0002", conf.id)
    answer(board, alice, clock, 1)
    recorder.clear()
    board.apply(bob.status(CallStatus.RINGING, clock.tick()))
    board.apply(bob.status(CallStatus.NO_ANSWER, clock.tick(60)))
    assert provider.commands[-1] == ("farewell", "CA0001", "no-answer")  # told, then hung up
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=62))
    assert trail(recorder) == [
        ("call-ringing", "client:bob"),
        ("call-ended", "client:bob no-answer/no-answer"),
        ("participant-left", "client:alice"),
        ("call-ended", "client:alice completed/completed"),
        ("conference-ended", "no-answer client:bob"),
    ]
    assert board.get(conf.id).end_reason is EndReason.NO_ANSWER


def test_call_ended_before_it_connected(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    """The caller hangs up while the callee is still ringing: the callee is canceled."""
    conf = board.dial("client:alice", "client:bob")
    alice, bob = Phone("CA0001", conf.id), Phone("CA0002", conf.id)
    answer(board, alice, clock, 1)
    board.apply(bob.status(CallStatus.RINGING, clock.tick()))
    recorder.clear()
    board.hangup(board.get(conf.id).caller.id)
    assert provider.commands[-1] == ("hangup", "CA0001")
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=3))
    assert provider.hangups() == ["CA0001", "CA0002"]  # nobody left in the room: stop bob
    board.apply(bob.status(CallStatus.CANCELED, clock.tick()))
    assert trail(recorder) == [
        ("participant-left", "client:alice"),
        ("call-ended", "client:alice completed/completed"),
        ("call-ended", "client:bob canceled/canceled"),
        ("conference-ended", "canceled client:bob"),
    ]


def test_callers_own_leg_never_reached(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    """Click-to-call where the caller's own phone never answers: the callee is never rung."""
    conf = board.dial("+14155552671", "client:bob")
    alice = Phone("CA0001", conf.id)
    board.apply(alice.status(CallStatus.RINGING, clock.tick()))
    board.apply(alice.status(CallStatus.BUSY, clock.tick()))
    assert [c[0] for c in provider.commands] == ["place"]  # bob was never dialled
    assert trail(recorder)[-4:] == [
        ("call-ringing", "+14155552671"),
        ("call-ended", "+14155552671 busy/busy"),
        ("call-ended", "client:bob canceled/canceled"),
        ("conference-ended", "busy +14155552671"),
    ]


def test_caller_placement_refused(
    board: Switchboard, provider: FakeProvider, recorder: Recorder
) -> None:
    provider.refuse["+14155552671"] = invalid_number()
    with pytest.raises(ProviderError, match="not a valid phone number"):
        board.dial("+14155552671", "client:bob")
    (conf_id,) = {e.conference_id for e in recorder.of(ev.ConferenceEvent)}  # type: ignore[attr-defined]
    conf = board.get(conf_id)
    assert conf.status is ConferenceStatus.ENDED
    assert conf.end_reason is EndReason.INVALID_NUMBER
    assert [c.status for c in conf.calls] == [CallStatus.FAILED, CallStatus.CANCELED]


def test_ring_group_first_to_answer_wins(
    board: Switchboard, provider: FakeProvider, clock: Clock, recorder: Recorder
) -> None:
    conf = board.dial("+14155552671", ["client:bob", "client:carol"])
    answer(board, Phone("CA0001", conf.id), clock, 1)
    assert [c[2] for c in provider.commands if c[0] == "add"] == ["client:bob", "client:carol"]
    bob, carol = Phone("CA0002", conf.id), Phone("CA0003", conf.id)
    board.apply(bob.status(CallStatus.RINGING, clock.tick()))
    board.apply(carol.status(CallStatus.RINGING, clock.tick()))
    board.apply(carol.status(IN, clock.tick()))
    assert provider.hangups() == ["CA0002"]  # bob stops ringing
    board.apply(bob.status(CallStatus.CANCELED, clock.tick()))
    board.apply(carol.member(JOINED, clock.tick(), 2))
    assert board.get(conf.id).status is ConferenceStatus.ACTIVE  # carol and the caller talk
    assert [c.endpoint.value for c in board.get(conf.id).connected()] == ["+14155552671", "carol"]


def test_report_for_a_leg_not_recorded_yet_is_parked_then_applied(
    provider: FakeProvider, clock: Clock
) -> None:
    """A status webhook can beat the HTTP response that created the leg."""
    from talkbox.store import MemoryStore

    pending: list = []
    board = Switchboard(MemoryStore(), provider, clock=clock, run_effect=pending.append)
    conf = board.dial("client:alice", "client:bob")
    alice = Phone("CA0001", conf.id)
    board.apply(alice.status(IN, clock.tick()))
    board.apply(alice.member(JOINED, clock.tick(), 1))  # bob's placement is queued, not run
    bob = Phone(provider.next_id(), conf.id)
    assert board.apply(bob.status(CallStatus.RINGING, clock.tick())) is Applied.PARKED
    pending.pop(0)()  # the placement returns: the parked report is replayed
    assert board.get(conf.id).calls[1].status is CallStatus.RINGING


def test_duplicates_and_stale_reports_change_nothing(
    board: Switchboard, clock: Clock, recorder: Recorder
) -> None:
    conf = board.dial("client:alice", "client:bob")
    alice = Phone("CA0001", conf.id)
    ringing = alice.status(CallStatus.RINGING, clock.tick())
    answered = alice.status(IN, clock.tick())
    assert board.apply(answered) is Applied.APPLIED
    assert board.apply(answered) is Applied.IGNORED  # duplicate
    assert board.apply(ringing) is Applied.IGNORED  # stale: lower sequence number
    assert recorder.names().count("call-answered") == 1
    assert "call-ringing" not in recorder.names()
    # Without sequence numbers the transition table decides: ringing after answer is illegal.
    from talkbox.providers.base import CallReport

    late = CallReport(CallStatus.RINGING, clock.tick(), provider_call_id="CA0001")
    assert board.apply(late) is Applied.IGNORED


def test_reports_about_nothing_known_are_dropped(board: Switchboard) -> None:
    from talkbox.providers.base import ConferenceChange, ConferenceReport

    report = ConferenceReport(ConferenceChange.ENDED, provider_conference_id="CFnothing")
    assert board.apply(report) is Applied.UNKNOWN
