"""The state machines: every legal transition works, every other one is refused."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from talkbox.errors import IllegalTransition
from talkbox.model import (
    CALL_TRANSITIONS,
    CONFERENCE_TRANSITIONS,
    PARTICIPANT_TRANSITIONS,
    TERMINAL_CALL_STATUSES,
    Call,
    CallStatus,
    ConferenceStatus,
    Endpoint,
    EndReason,
    ParticipantState,
    Role,
)

LEGAL = [(a, b) for a, targets in CALL_TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [
    (a, b) for a, b in itertools.product(CallStatus, CallStatus) if b not in CALL_TRANSITIONS[a]
]


def leg(status: CallStatus) -> Call:
    return Call(
        id="call_1",
        conference_id="conf_1",
        endpoint=Endpoint.client("bob"),
        role=Role.CALLEE,
        status=status,
        created_at=100.0,
    )


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_every_legal_call_transition(current: CallStatus, target: CallStatus) -> None:
    moved = leg(current).advanced(target, 200.0)
    assert moved.status is target
    if target is CallStatus.IN_PROGRESS:
        assert moved.answered_at == 200.0
    if target.is_terminal:
        assert moved.ended_at == 200.0
        assert moved.end_reason is EndReason.for_status(target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_illegal_call_transition_is_refused(current: CallStatus, target: CallStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
        leg(current).advanced(target, 200.0)


def test_terminal_statuses_absorb_and_progress_only_moves_forward() -> None:
    for status in TERMINAL_CALL_STATUSES:
        assert CALL_TRANSITIONS[status] == frozenset()
    assert CallStatus.RINGING not in CALL_TRANSITIONS[CallStatus.IN_PROGRESS]
    assert CallStatus.INITIATED not in CALL_TRANSITIONS[CallStatus.RINGING]
    # An answered leg can no longer be busy, unanswered or canceled.
    assert CALL_TRANSITIONS[CallStatus.IN_PROGRESS] == {CallStatus.COMPLETED, CallStatus.FAILED}


def test_the_table_covers_every_status() -> None:
    assert set(CALL_TRANSITIONS) == set(CallStatus)
    assert set(PARTICIPANT_TRANSITIONS) == set(ParticipantState)
    assert set(CONFERENCE_TRANSITIONS) == set(ConferenceStatus)
    assert PARTICIPANT_TRANSITIONS[ParticipantState.LEFT] == frozenset()
    assert CONFERENCE_TRANSITIONS[ConferenceStatus.ENDED] == frozenset()


def test_every_terminal_status_has_an_end_reason() -> None:
    for status in TERMINAL_CALL_STATUSES:
        assert EndReason.for_status(status).value == status.value


def test_advancing_keeps_a_refined_reason() -> None:
    refined = dataclasses.replace(leg(CallStatus.RINGING), end_reason=EndReason.REJECTED)
    assert refined.advanced(CallStatus.BUSY, 1.0).end_reason is EndReason.REJECTED
