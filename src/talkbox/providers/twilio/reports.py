"""Twilio's webhook parameters as provider-neutral reports.

Pure functions from the POSTed form (and our own query parameters) to
:class:`~talkbox.providers.base.CallReport`, :class:`~talkbox.providers.base.ParticipantReport`
or :class:`~talkbox.providers.base.ConferenceReport`; a missing or malformed field raises
:class:`BadWebhook` with a reason the web layer answers with (400).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from talkbox.model import CallStatus
from talkbox.providers.base import (
    CallReport,
    ConferenceChange,
    ConferenceReport,
    ParticipantChange,
    ParticipantReport,
    Report,
)

CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
CONFERENCE_SID = re.compile(r"CF[0-9a-fA-F]{32}")
CALL_ID = re.compile(r"call_[0-9a-f]{16}")
CONFERENCE_ID = re.compile(r"conf_[0-9a-f]{16}")

#: Twilio's call statuses; ``queued`` and ``initiated`` both mean "handed to the provider".
CALL_STATUSES: Mapping[str, CallStatus] = {
    "queued": CallStatus.INITIATED,
    "initiated": CallStatus.INITIATED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "failed": CallStatus.FAILED,
    "no-answer": CallStatus.NO_ANSWER,
    "canceled": CallStatus.CANCELED,
}

PARTICIPANT_EVENTS: Mapping[str, ParticipantChange] = {
    "participant-join": ParticipantChange.JOINED,
    "participant-leave": ParticipantChange.LEFT,
    "participant-mute": ParticipantChange.MUTED,
    "participant-unmute": ParticipantChange.UNMUTED,
    "participant-hold": ParticipantChange.HELD,
    "participant-unhold": ParticipantChange.RESUMED,
    "participant-modify": ParticipantChange.MODIFIED,
}

CONFERENCE_EVENTS: Mapping[str, ConferenceChange] = {
    "conference-start": ConferenceChange.STARTED,
    "conference-end": ConferenceChange.ENDED,
}


class BadWebhook(ValueError):
    """A webhook request we cannot act on; the message says which field and why."""


def required(form: Mapping[str, str], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise BadWebhook(f"missing {name}")
    if pattern is not None and not pattern.fullmatch(value):
        raise BadWebhook(f"malformed {name}: {value[:40]!r}")
    return value


def optional_id(value: str | None, pattern: re.Pattern[str], name: str) -> str | None:
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise BadWebhook(f"malformed {name}: {value[:40]!r}")
    return value


def call_status(value: str) -> CallStatus:
    try:
        return CALL_STATUSES[value.strip().lower()]
    except KeyError:
        raise BadWebhook(f"unknown CallStatus {value[:40]!r}") from None


def is_number(text: str) -> bool:
    """Only ASCII digits: ``str.isdigit`` also accepts ``'²'`` and other Unicode digits that
    ``int`` and ``float`` then refuse, which would turn a malformed field into a crash."""
    return text.isascii() and text.isdigit()


def _sequence(form: Mapping[str, str]) -> int | None:
    text = form.get("SequenceNumber")
    if text is None or text == "":
        return None
    if not is_number(text):
        raise BadWebhook(f"malformed SequenceNumber: {text[:40]!r}")
    return int(text)


def _timestamp(form: Mapping[str, str]) -> float | None:
    """Twilio's ``Timestamp`` is RFC 2822 (``Tue, 25 Nov 2026 17:21:11 +0000``)."""
    text = form.get("Timestamp")
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise BadWebhook(f"malformed Timestamp: {text[:40]!r}") from None
    if when.tzinfo is None:
        raise BadWebhook(f"Timestamp without a time zone: {text[:40]!r}")
    return when.timestamp()


def _duration(form: Mapping[str, str]) -> float | None:
    text = form.get("CallDuration")
    if not text:
        return None
    if not is_number(text):
        raise BadWebhook(f"malformed CallDuration: {text[:40]!r}")
    return float(text)


def _flag(form: Mapping[str, str], name: str) -> bool | None:
    text = (form.get(name) or "").lower()
    if text in ("true", "false"):
        return text == "true"
    if text:
        raise BadWebhook(f"malformed {name}: {text[:40]!r}")
    return None


def call_report(form: Mapping[str, str], call_id: str | None = None) -> CallReport:
    """A call status callback (``StatusCallback`` of a call or participant leg).

    ``call_id`` is talkbox's id, from the ``call`` query parameter we put in the URL; legs
    that called in (whose status callback is configured in the console) have none.
    """
    return CallReport(
        status=call_status(required(form, "CallStatus")),
        timestamp=_timestamp(form),
        call_id=optional_id(call_id, CALL_ID, "call"),
        provider_call_id=required(form, "CallSid", CALL_SID),
        sequence=_sequence(form),
        duration=_duration(form),
        raw=dict(form),
    )


def conference_report(form: Mapping[str, str], conference_id: str | None = None) -> Report | None:
    """A conference status callback; ``None`` for events talkbox does not track (speech,
    announcements, and whatever Twilio adds later)."""
    event = required(form, "StatusCallbackEvent").lower()
    provider_conference_id = required(form, "ConferenceSid", CONFERENCE_SID)
    # The FriendlyName is talkbox's conference id; the query parameter is the fallback.
    name = form.get("FriendlyName") or ""
    conference_id = name if CONFERENCE_ID.fullmatch(name) else conference_id
    conference_id = optional_id(conference_id, CONFERENCE_ID, "conference")
    if event in CONFERENCE_EVENTS:
        return ConferenceReport(
            change=CONFERENCE_EVENTS[event],
            timestamp=_timestamp(form),
            conference_id=conference_id,
            provider_conference_id=provider_conference_id,
            sequence=_sequence(form),
            provider_reason=form.get("ReasonConferenceEnded") or None,
            raw=dict(form),
        )
    if event not in PARTICIPANT_EVENTS:
        return None
    label = form.get("ParticipantLabel") or ""
    return ParticipantReport(
        change=PARTICIPANT_EVENTS[event],
        timestamp=_timestamp(form),
        conference_id=conference_id,
        provider_conference_id=provider_conference_id,
        # The label is talkbox's call id where we set it (participants.create ``Label``,
        # <Conference participantLabel>); the CallSid identifies the leg in any case.
        call_id=label if CALL_ID.fullmatch(label) else None,
        provider_call_id=required(form, "CallSid", CALL_SID),
        sequence=_sequence(form),
        muted=_flag(form, "Muted"),
        on_hold=_flag(form, "Hold"),
        raw=dict(form),
    )
