"""What the local provider knows about devices: the hub it reaches them through, its timers,
and the legs it is ringing or carrying. Kept apart from the provider's rules so both stay short.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

Message = Mapping[str, Any]

#: Signalling messages a device may relay to the device of another leg in its room.
RELAYED = frozenset({"offer", "answer", "ice"})


class DeviceHub(Protocol):
    """How the provider reaches browsers; the web layer's stream hub implements it."""

    def devices(self, identity: str) -> list[str]:
        """Ids of the devices of ``identity`` that are connected now."""
        ...

    def send(self, identity: str, message: Message, device_id: str | None = None) -> int:
        """Deliver ``message`` to one device of ``identity``, or to all of them when
        ``device_id`` is None; returns how many devices it reached."""
        ...


class Timer(Protocol):
    def cancel(self) -> None: ...


#: ``schedule(delay, fn)`` runs ``fn`` after ``delay`` seconds unless cancelled.
Scheduler = Callable[[float, Callable[[], None]], Timer]


def thread_timer(delay: float, fn: Callable[[], None]) -> Timer:
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.start()
    return timer


class LegState(StrEnum):
    INVITING = "inviting"  # invites sent, no device acknowledged yet
    RINGING = "ringing"
    ANSWERED = "answered"  # a device accepted; the leg is in the room
    ENDED = "ended"


@dataclass
class Leg:
    id: str
    identity: str
    conference_id: str
    call_id: str
    caller: str
    state: LegState = LegState.INVITING
    device_id: str | None = None  # the device holding the leg once answered
    rung: set[str] = field(default_factory=set)  # devices invited
    timer: Timer | None = None  # this process's ring timer, never saved
    muted: bool = False
    on_hold: bool = False
    #: Sequence of the leg's next report: kept with the leg (not per process) so that reports
    #: made by another process, or after a restart, still count as newer.
    seq: int = 0
    #: When ringing ends with no-answer (wall clock), so that any process can enforce it.
    ring_deadline: float | None = None
    #: Since when the device holding this answered leg has been connected nowhere.
    away_since: float | None = None
    #: A calling device's media offer, sent with the invite so that the callee answers it as
    #: it accepts (one signalling round less after "accept"); dropped once answered.
    offer: str | None = None
    offer_candidates: list[dict[str, Any]] = field(default_factory=list)
    #: The leg whose offer this leg's invite carries.
    offered_by: str | None = None

    def drop_offer(self) -> None:
        self.offer, self.offer_candidates = None, []

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def to_json(self) -> str:
        """The leg as saved in the store (everything but this process's timer)."""
        return json.dumps(
            {
                "id": self.id,
                "identity": self.identity,
                "conference_id": self.conference_id,
                "call_id": self.call_id,
                "caller": self.caller,
                "state": self.state.value,
                "device_id": self.device_id,
                "rung": sorted(self.rung),
                "muted": self.muted,
                "on_hold": self.on_hold,
                "seq": self.seq,
                "ring_deadline": self.ring_deadline,
                "away_since": self.away_since,
                "offer": self.offer,
                "offer_candidates": self.offer_candidates,
                "offered_by": self.offered_by,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Leg:
        data = json.loads(text)
        return cls(
            id=data["id"],
            identity=data["identity"],
            conference_id=data["conference_id"],
            call_id=data["call_id"],
            caller=data["caller"],
            state=LegState(data["state"]),
            device_id=data["device_id"],
            rung=set(data["rung"]),
            muted=data["muted"],
            on_hold=data["on_hold"],
            seq=data["seq"],
            ring_deadline=data["ring_deadline"],
            away_since=data["away_since"],
            offer=data.get("offer"),
            offer_candidates=data.get("offer_candidates", []),
            offered_by=data.get("offered_by"),
        )


def is_loopback_candidate(candidate: str) -> bool:
    """Whether an ICE candidate line names a loopback address (RFC 8839 field 5)."""
    parts = candidate.removeprefix("candidate:").split()
    if len(parts) < 5:
        return False
    try:
        return ipaddress.ip_address(parts[4]).is_loopback
    except ValueError:
        return False  # an mDNS name (``….local``) or garbage: not provably loopback
