"""Plain-text rendering for the terminal: one line per thing, stable columns, no colour, so that
``grep``/``awk`` work on it (``--json`` is there for anything more)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

#: Fields every event has; the rest of an event are its details.
_EVENT_BASE = ("type", "at", "conference_id", "call_id", "endpoint")


def clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def status_words(status: str) -> str:
    """``in-progress`` reads as "in progress"."""
    return status.replace("-", " ")


def talk_time(room: Mapping[str, Any], now: float | None = None) -> float | None:
    """The longest talk time of any leg (how the server measures a call), so far or in all."""
    times = [
        (leg["ended_at"] or now or time.time()) - leg["answered_at"]
        for leg in room["legs"]
        if leg["answered_at"] is not None
    ]
    return max(times) if times else None


def others(room: Mapping[str, Any]) -> str:
    """The other parties as seen from the room's ``call_id`` leg (its owner if none)."""
    mine = next((leg for leg in room["legs"] if leg["call_id"] == room["call_id"]), None)
    me = mine["endpoint"] if mine else room["owner"]
    names = list(dict.fromkeys(leg["endpoint"] for leg in room["legs"] if leg["endpoint"] != me))
    return ", ".join(names) or "-"


def room_line(room: Mapping[str, Any]) -> str:
    return (
        f"{room['call_id'] or '-':<22} {room['conference_id']:<22} {room['status']:<8} "
        f"{room['direction']:<8} {others(room):<24} {duration(talk_time(room))}"
    )


ROOM_HEADER = f"{'CALL':<22} {'ROOM':<22} {'STATUS':<8} {'WAY':<8} {'WITH':<24} TALK"


def leg_line(leg: Mapping[str, Any]) -> str:
    flags = [
        name
        for name, on in (
            ("joined", leg["joined"]),
            ("muted", leg["muted"]),
            ("on-hold", leg["on_hold"]),
        )
        if on
    ]
    ended = f" ({leg['end_reason']})" if leg.get("end_reason") else ""
    return (
        f"  {leg['call_id']:<22} {leg['endpoint']:<24} {leg['role']:<12} "
        f"{leg['status'] + ended:<24} {' '.join(flags)}".rstrip()
    )


def room_block(room: Mapping[str, Any]) -> list[str]:
    head = (
        f"{room['conference_id']}  {room['status']}  owner {room['owner']}  "
        f"created {clock(room['created_at'])}  talk {duration(talk_time(room))}"
    )
    if room.get("end_reason"):
        head += f"  ended {clock(room['ended_at'])} ({room['end_reason']})"
    return [head, *(leg_line(leg) for leg in room["legs"])]


HISTORY_HEADER = f"{'ENDED':<8} {'ROOM':<22} {'REASON':<14} {'TALK':<6} PARTIES"


def history_line(ended: Mapping[str, Any]) -> str:
    parties = " -> ".join(ended.get("parties") or [ended["owner"]])
    return (
        f"{clock(ended['at']):<8} {ended['conference_id']:<22} {ended['reason']:<14} "
        f"{duration(ended.get('duration')):<6} {parties}"
    )


def event_line(event: Mapping[str, Any]) -> str:
    """``HH:MM:SS type room leg endpoint key=value ...`` for one event of the stream."""
    if event.get("type") == "presence":
        return f"{clock(time.time())} presence online: {', '.join(event['online']) or 'nobody'}"
    parts = [clock(event.get("at")), str(event.get("type"))]
    parts += [str(event[k]) for k in ("conference_id", "call_id", "endpoint") if event.get(k)]
    parts += [
        f"{k}={_value(k, v)}" for k, v in event.items() if k not in _EVENT_BASE and v is not None
    ]
    return " ".join(parts)


def _value(key: str, value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return clock(value) if key.endswith("_at") else f"{value:.1f}"
    return str(value)
