"""The state machines: call legs, participants and conferences, with explicit transition tables.

A *call* in talkbox is one leg: one endpoint's connection to a room. Its statuses follow the
ones providers report (Twilio's names), plus ``queued`` for a leg talkbox has not placed yet
(it waits for the room's first leg to join). Progress only moves forward; a terminal status
absorbs everything after it. Any live status may jump straight to a terminal one, because a
provider's intermediate reports can be lost or arrive late.
"""

from __future__ import annotations

from enum import StrEnum

from talkbox.errors import IllegalTransition


class CallStatus(StrEnum):
    QUEUED = "queued"  # waiting in talkbox to be placed (not yet at the provider)
    INITIATED = "initiated"  # handed to the provider (Twilio's queued/initiated)
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_CALL_STATUSES

    @property
    def is_live(self) -> bool:
        return not self.is_terminal


TERMINAL_CALL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
)

# Terminal statuses reachable from a leg that was never answered. ``completed`` is included
# because a provider may report it for a leg whose answer report was lost.
_ENDINGS = TERMINAL_CALL_STATUSES

CALL_TRANSITIONS: dict[CallStatus, frozenset[CallStatus]] = {
    CallStatus.QUEUED: frozenset({CallStatus.INITIATED, CallStatus.CANCELED, CallStatus.FAILED}),
    CallStatus.INITIATED: frozenset({CallStatus.RINGING, CallStatus.IN_PROGRESS} | _ENDINGS),
    CallStatus.RINGING: frozenset({CallStatus.IN_PROGRESS} | _ENDINGS),
    # An answered leg can only end normally or fail (a dropped connection); it cannot be busy,
    # unanswered or canceled any more.
    CallStatus.IN_PROGRESS: frozenset({CallStatus.COMPLETED, CallStatus.FAILED}),
    CallStatus.COMPLETED: frozenset(),
    CallStatus.BUSY: frozenset(),
    CallStatus.FAILED: frozenset(),
    CallStatus.NO_ANSWER: frozenset(),
    CallStatus.CANCELED: frozenset(),
}


def can_transition(current: CallStatus, target: CallStatus) -> bool:
    return target in CALL_TRANSITIONS[current]


def check_transition(subject: str, current: CallStatus, target: CallStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(subject, current.value, target.value)


class ParticipantState(StrEnum):
    PENDING = "pending"  # its leg is being placed or ringing; not in the room yet
    JOINED = "joined"
    LEFT = "left"


PARTICIPANT_TRANSITIONS: dict[ParticipantState, frozenset[ParticipantState]] = {
    ParticipantState.PENDING: frozenset({ParticipantState.JOINED, ParticipantState.LEFT}),
    ParticipantState.JOINED: frozenset({ParticipantState.LEFT}),
    ParticipantState.LEFT: frozenset(),
}


class ConferenceStatus(StrEnum):
    CREATED = "created"  # legs are being placed; nobody has joined
    ACTIVE = "active"  # somebody joined
    ENDING = "ending"  # talkbox decided it is over and is hanging up the remaining legs
    ENDED = "ended"  # every leg has ended

    @property
    def is_open(self) -> bool:
        """Whether the room still takes commands that add or change participants."""
        return self in (ConferenceStatus.CREATED, ConferenceStatus.ACTIVE)


CONFERENCE_TRANSITIONS: dict[ConferenceStatus, frozenset[ConferenceStatus]] = {
    ConferenceStatus.CREATED: frozenset(
        {ConferenceStatus.ACTIVE, ConferenceStatus.ENDING, ConferenceStatus.ENDED}
    ),
    ConferenceStatus.ACTIVE: frozenset({ConferenceStatus.ENDING, ConferenceStatus.ENDED}),
    ConferenceStatus.ENDING: frozenset({ConferenceStatus.ENDED}),
    ConferenceStatus.ENDED: frozenset(),
}


class EndReason(StrEnum):
    """Why a leg or a room ended, in words a user interface can show."""

    COMPLETED = "completed"  # people talked, then hung up
    BUSY = "busy"
    REJECTED = "rejected"  # the callee declined (a busy signal the provider could attribute)
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"  # hung up before it was answered
    INVALID_NUMBER = "invalid-number"  # the provider refused the number

    @classmethod
    def for_status(cls, status: CallStatus) -> EndReason:
        return _REASON_FOR_STATUS[status]


_REASON_FOR_STATUS = {
    CallStatus.COMPLETED: EndReason.COMPLETED,
    CallStatus.BUSY: EndReason.BUSY,
    CallStatus.FAILED: EndReason.FAILED,
    CallStatus.NO_ANSWER: EndReason.NO_ANSWER,
    CallStatus.CANCELED: EndReason.CANCELED,
}
