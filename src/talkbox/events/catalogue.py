"""The event catalogue: one frozen dataclass per fact, one blinker signal per event type.

Every signal is sent by :func:`talkbox.events.publish` with the **sender** being the object that
caused the change (a :class:`~talkbox.switchboard.Switchboard`, or the web layer for presence)
and these keyword arguments:

``event``
    the event instance (a frozen dataclass below);
``event_id``
    its position in the store's append-only event log (``int``), or ``None`` for events that
    are not logged;
``parties``
    ``frozenset[str]`` of the endpoints the event concerns (every party of the room, as
    ``client:alice`` / E.164 strings), so that a per-user stream can filter without a lookup.

The signal names are kebab-case and double as the ``type`` field of an event's JSON form.
Applications that want their own signals should make their own :class:`blinker.Namespace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from blinker import NamedSignal, Namespace

from talkbox.model.records import Role
from talkbox.model.states import CallStatus, EndReason

_signals = Namespace()
SIGNALS: dict[type[Event], NamedSignal] = {}
EVENT_TYPES: dict[str, type[Event]] = {}


def _signal(name: str, event_type: type[Event]) -> NamedSignal:
    signal = _signals.signal(name, doc=event_type.__doc__)
    event_type.name = name
    SIGNALS[event_type] = signal
    EVENT_TYPES[name] = event_type
    return signal


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: ``at`` is when it happened (provider time where known), epoch s."""

    name: ClassVar[str] = "event"
    at: float


@dataclass(frozen=True, slots=True)
class ConferenceEvent(Event):
    conference_id: str


@dataclass(frozen=True, slots=True)
class CallEvent(ConferenceEvent):
    call_id: str
    endpoint: str


#: Sent for every event, after its own signal: the hook for bridges (streams, Redis, ``watch``).
#: Keyword arguments as above.
event_published = _signals.signal(
    "event-published", doc="Every event, after its own signal (for bridges and loggers)."
)


# -- rooms ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConferenceCreated(ConferenceEvent):
    """A room was created by ``dial``, ``start_conference`` or an inbound call."""

    owner: str


conference_created = _signal("conference-created", ConferenceCreated)


@dataclass(frozen=True, slots=True)
class ConferenceStarted(ConferenceEvent):
    """The first participant joined the room."""


conference_started = _signal("conference-started", ConferenceStarted)


@dataclass(frozen=True, slots=True)
class ConferenceEnded(ConferenceEvent):
    """Every leg of the room has ended. Carries what call history needs.

    ``reason`` summarises the outcome (``completed`` when somebody answered; otherwise the
    outcome of the leg that decided it, e.g. ``busy``), ``party`` names that leg's endpoint,
    ``parties`` everyone who was dialled (first leg first), ``duration`` the longest talk time
    of any leg in seconds. ``at`` is when the last leg ended.
    """

    owner: str
    reason: EndReason
    party: str | None
    parties: tuple[str, ...]
    duration: float
    created_at: float


conference_ended = _signal("conference-ended", ConferenceEnded)


# -- legs ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallCreated(CallEvent):
    """A leg was recorded: queued until the room's first leg joins, or already at the provider
    (an inbound call)."""

    role: Role
    status: CallStatus


call_created = _signal("call-created", CallCreated)


@dataclass(frozen=True, slots=True)
class CallInitiated(CallEvent):
    """Talkbox handed the leg to the provider, which is dialling it."""


call_initiated = _signal("call-initiated", CallInitiated)


@dataclass(frozen=True, slots=True)
class CallRinging(CallEvent):
    """The leg's endpoint is ringing."""


call_ringing = _signal("call-ringing", CallRinging)


@dataclass(frozen=True, slots=True)
class CallAnswered(CallEvent):
    """The leg was answered."""


call_answered = _signal("call-answered", CallAnswered)


@dataclass(frozen=True, slots=True)
class CallEnded(CallEvent):
    """The leg ended: ``status`` is the provider's terminal status, ``reason`` the refined cause
    (``rejected``, ``invalid-number`` ...), ``duration`` the talk time in seconds."""

    status: CallStatus
    reason: EndReason
    duration: float


call_ended = _signal("call-ended", CallEnded)


# -- participants ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParticipantJoined(CallEvent):
    """The leg entered the room and can hear and be heard."""


participant_joined = _signal("participant-joined", ParticipantJoined)


@dataclass(frozen=True, slots=True)
class ParticipantLeft(CallEvent):
    """The leg left the room (hung up, removed, or the room ended)."""


participant_left = _signal("participant-left", ParticipantLeft)


@dataclass(frozen=True, slots=True)
class ParticipantMuted(CallEvent):
    """The room no longer hears this participant."""


participant_muted = _signal("participant-muted", ParticipantMuted)


@dataclass(frozen=True, slots=True)
class ParticipantUnmuted(CallEvent):
    """The room hears this participant again."""


participant_unmuted = _signal("participant-unmuted", ParticipantUnmuted)


@dataclass(frozen=True, slots=True)
class ParticipantHeld(CallEvent):
    """The participant is on hold: hears nothing from the room and is not heard."""


participant_held = _signal("participant-held", ParticipantHeld)


@dataclass(frozen=True, slots=True)
class ParticipantResumed(CallEvent):
    """The participant came off hold."""


participant_resumed = _signal("participant-resumed", ParticipantResumed)


# -- transfers and failures ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TransferStarted(CallEvent):
    """``call_id`` (the transferor) is handing the room to ``target`` (a new leg
    ``target_call_id``). Cold: the transferor leaves at once; warm: the others are held while
    the transferor talks to the target."""

    target: str
    target_call_id: str
    warm: bool


transfer_started = _signal("transfer-started", TransferStarted)


@dataclass(frozen=True, slots=True)
class TransferCompleted(CallEvent):
    """A warm transfer finished: the transferor left, the held parties were resumed."""

    target_call_id: str


transfer_completed = _signal("transfer-completed", TransferCompleted)


@dataclass(frozen=True, slots=True)
class TransferCanceled(CallEvent):
    """A warm transfer was abandoned: the target's leg was hung up, the held parties resumed."""

    target_call_id: str


transfer_canceled = _signal("transfer-canceled", TransferCanceled)


@dataclass(frozen=True, slots=True)
class CommandFailed(ConferenceEvent):
    """A command talkbox ran on its own (placing a callee, hanging up a last leg) or for a user
    failed at the provider. ``call_id`` is the leg concerned, if any."""

    command: str
    call_id: str | None
    message: str
    code: str | None


command_failed = _signal("command-failed", CommandFailed)
