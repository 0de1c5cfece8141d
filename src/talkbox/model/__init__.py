"""The pure domain: endpoints, calls, conferences, participants and their state machines.

Nothing here does I/O or reads a clock: times are passed in, which keeps the rules testable in
microseconds and replayable from a log.
"""

from talkbox.model.endpoint import CLIENT_PREFIX, IDENTITY_RE, Endpoint, EndpointKind
from talkbox.model.records import Call, Conference, Participant, Role, Transfer
from talkbox.model.states import (
    CALL_TRANSITIONS,
    CONFERENCE_TRANSITIONS,
    PARTICIPANT_TRANSITIONS,
    TERMINAL_CALL_STATUSES,
    CallStatus,
    ConferenceStatus,
    EndReason,
    ParticipantState,
    can_transition,
    check_transition,
)

__all__ = [
    "CALL_TRANSITIONS",
    "CLIENT_PREFIX",
    "CONFERENCE_TRANSITIONS",
    "IDENTITY_RE",
    "PARTICIPANT_TRANSITIONS",
    "TERMINAL_CALL_STATUSES",
    "Call",
    "CallStatus",
    "Conference",
    "ConferenceStatus",
    "EndReason",
    "Endpoint",
    "EndpointKind",
    "Participant",
    "ParticipantState",
    "Role",
    "Transfer",
    "can_transition",
    "check_transition",
]
