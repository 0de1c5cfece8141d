"""Events: the only way state changes leave talkbox's core.

Subscribe to one signal per fact (``call_answered``, ``conference_ended`` ...) or to
``event_published`` for all of them. See :mod:`talkbox.events.catalogue` for the keyword
arguments every signal carries, and the README for the whole catalogue.

Receivers run synchronously in the publishing thread, in log order. Keep them quick: hand slow
work (HTTP, e-mail) to a queue. Blinker holds receivers by weak reference unless you connect
with ``weak=False``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from blinker import NamedSignal

from talkbox.events.catalogue import (
    EVENT_TYPES,
    SIGNALS,
    CallAnswered,
    CallCreated,
    CallEnded,
    CallEvent,
    CallInitiated,
    CallRinging,
    CommandFailed,
    ConferenceCreated,
    ConferenceEnded,
    ConferenceEvent,
    ConferenceStarted,
    Event,
    ParticipantHeld,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantMuted,
    ParticipantResumed,
    ParticipantUnmuted,
    TransferCanceled,
    TransferCompleted,
    TransferStarted,
    call_answered,
    call_created,
    call_ended,
    call_initiated,
    call_ringing,
    command_failed,
    conference_created,
    conference_ended,
    conference_started,
    event_published,
    participant_held,
    participant_joined,
    participant_left,
    participant_muted,
    participant_resumed,
    participant_unmuted,
    transfer_canceled,
    transfer_completed,
    transfer_started,
)


def signal_for(event: Event | type[Event]) -> NamedSignal:
    """The signal an event (or event type) is published on."""
    event_type = event if isinstance(event, type) else type(event)
    return SIGNALS[event_type]


def publish(
    event: Event,
    sender: object,
    *,
    event_id: int | None = None,
    parties: Iterable[str] = (),
) -> None:
    """Send ``event`` on its own signal, then on ``event_published``; the single publish path."""
    who = frozenset(parties)
    signal_for(event).send(sender, event=event, event_id=event_id, parties=who)
    event_published.send(sender, event=event, event_id=event_id, parties=who)


def to_dict(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data, with its signal name as ``type``."""
    data: dict[str, Any] = {"type": event.name}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


@functools.cache
def _hints(name: str) -> dict[str, Any]:
    return typing.get_type_hints(EVENT_TYPES[name])


def from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from :func:`to_dict`'s output (the store's log, the Redis bridge)."""
    try:
        event_type = EVENT_TYPES[data["type"]]
    except KeyError:
        raise ValueError(f"unknown event type {data.get('type')!r}") from None
    hints = _hints(event_type.name)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(event_type):
        value = data[field.name]
        hint = hints[field.name]
        if isinstance(hint, type) and issubclass(hint, Enum):
            value = hint(value)
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[field.name] = value
    return event_type(**kwargs)


__all__ = [
    "EVENT_TYPES",
    "SIGNALS",
    "CallAnswered",
    "CallCreated",
    "CallEnded",
    "CallEvent",
    "CallInitiated",
    "CallRinging",
    "CommandFailed",
    "ConferenceCreated",
    "ConferenceEnded",
    "ConferenceEvent",
    "ConferenceStarted",
    "Event",
    "ParticipantHeld",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantMuted",
    "ParticipantResumed",
    "ParticipantUnmuted",
    "TransferCanceled",
    "TransferCompleted",
    "TransferStarted",
    "call_answered",
    "call_created",
    "call_ended",
    "call_initiated",
    "call_ringing",
    "command_failed",
    "conference_created",
    "conference_ended",
    "conference_started",
    "event_published",
    "from_dict",
    "participant_held",
    "participant_joined",
    "participant_left",
    "participant_muted",
    "participant_resumed",
    "participant_unmuted",
    "publish",
    "signal_for",
    "to_dict",
    "transfer_canceled",
    "transfer_completed",
    "transfer_started",
]
