"""Rooms to JSON-ready dicts and back: the one serialised form every persistent store uses."""

from __future__ import annotations

import json
from typing import Any

from talkbox.model import (
    Call,
    CallStatus,
    Conference,
    ConferenceStatus,
    Endpoint,
    EndpointKind,
    EndReason,
    Participant,
    ParticipantState,
    Role,
    Transfer,
)


def _endpoint(value: str) -> Endpoint:
    # Stored endpoints were validated when they entered; rebuild without re-parsing.
    if value.startswith("client:"):
        return Endpoint(EndpointKind.CLIENT, value[len("client:") :])
    return Endpoint(EndpointKind.PHONE, value)


def _opt_reason(value: str | None) -> EndReason | None:
    return EndReason(value) if value is not None else None


def call_to_dict(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "conference_id": call.conference_id,
        "endpoint": str(call.endpoint),
        "role": call.role.value,
        "status": call.status.value,
        "created_at": call.created_at,
        "provider_id": call.provider_id,
        "ring_group": call.ring_group,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "end_reason": call.end_reason.value if call.end_reason else None,
        "duration": call.duration,
        "sequence": call.sequence,
    }


def call_from_dict(data: dict[str, Any]) -> Call:
    return Call(
        id=data["id"],
        conference_id=data["conference_id"],
        endpoint=_endpoint(data["endpoint"]),
        role=Role(data["role"]),
        status=CallStatus(data["status"]),
        created_at=data["created_at"],
        provider_id=data["provider_id"],
        ring_group=data["ring_group"],
        answered_at=data["answered_at"],
        ended_at=data["ended_at"],
        end_reason=_opt_reason(data["end_reason"]),
        duration=data["duration"],
        sequence=data["sequence"],
    )


def participant_to_dict(p: Participant) -> dict[str, Any]:
    return {
        "call_id": p.call_id,
        "endpoint": str(p.endpoint),
        "state": p.state.value,
        "muted": p.muted,
        "on_hold": p.on_hold,
        "joined_at": p.joined_at,
        "left_at": p.left_at,
        "sequence": p.sequence,
    }


def participant_from_dict(data: dict[str, Any]) -> Participant:
    return Participant(
        call_id=data["call_id"],
        endpoint=_endpoint(data["endpoint"]),
        state=ParticipantState(data["state"]),
        muted=data["muted"],
        on_hold=data["on_hold"],
        joined_at=data["joined_at"],
        left_at=data["left_at"],
        sequence=data["sequence"],
    )


def conference_to_dict(conf: Conference) -> dict[str, Any]:
    transfer = conf.transfer
    return {
        "id": conf.id,
        "owner": str(conf.owner),
        "status": conf.status.value,
        "created_at": conf.created_at,
        "calls": [call_to_dict(c) for c in conf.calls],
        "participants": [participant_to_dict(p) for p in conf.participants],
        "provider_id": conf.provider_id,
        "started_at": conf.started_at,
        "ended_at": conf.ended_at,
        "end_reason": conf.end_reason.value if conf.end_reason else None,
        "end_party": str(conf.end_party) if conf.end_party else None,
        "sequence": conf.sequence,
        "transfer": None
        if transfer is None
        else {
            "by_call_id": transfer.by_call_id,
            "to_call_id": transfer.to_call_id,
            "held_call_ids": list(transfer.held_call_ids),
        },
        "tags": [list(t) for t in conf.tags],
    }


def conference_from_dict(data: dict[str, Any]) -> Conference:
    transfer = data["transfer"]
    return Conference(
        id=data["id"],
        owner=_endpoint(data["owner"]),
        status=ConferenceStatus(data["status"]),
        created_at=data["created_at"],
        calls=tuple(call_from_dict(c) for c in data["calls"]),
        participants=tuple(participant_from_dict(p) for p in data["participants"]),
        provider_id=data["provider_id"],
        started_at=data["started_at"],
        ended_at=data["ended_at"],
        end_reason=_opt_reason(data["end_reason"]),
        end_party=_endpoint(data["end_party"]) if data["end_party"] else None,
        sequence=data["sequence"],
        transfer=None
        if transfer is None
        else Transfer(
            by_call_id=transfer["by_call_id"],
            to_call_id=transfer["to_call_id"],
            held_call_ids=tuple(transfer["held_call_ids"]),
        ),
        tags=tuple((k, v) for k, v in data["tags"]),
    )


def dumps(conf: Conference) -> str:
    return json.dumps(conference_to_dict(conf), separators=(",", ":"))


def loads(text: str | bytes) -> Conference:
    return conference_from_dict(json.loads(text))


def lookup_keys(conf: Conference) -> list[str]:
    """Index keys a store keeps so reports can find their room by any id."""
    keys = [f"call:{c.id}" for c in conf.calls]
    keys += [f"pcall:{c.provider_id}" for c in conf.calls if c.provider_id]
    if conf.provider_id:
        keys.append(f"pconf:{conf.provider_id}")
    return keys


def lookup_key(
    call_id: str | None, provider_call_id: str | None, provider_conference_id: str | None
) -> list[str]:
    keys = []
    if call_id:
        keys.append(f"call:{call_id}")
    if provider_call_id:
        keys.append(f"pcall:{provider_call_id}")
    if provider_conference_id:
        keys.append(f"pconf:{provider_conference_id}")
    return keys
