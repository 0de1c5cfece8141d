"""Calls, participants and conferences: immutable records, changed only through ``evolve``.

Every call in talkbox is a conference of two: the caller's leg and the callee's leg are both
participants of one room. Adding a third party, holding, transferring are then operations on
participants and never re-plumb media. A :class:`Conference` is therefore the aggregate: it
holds its legs (:class:`Call`) and their membership (:class:`Participant`), and a store saves
and loads it as one unit so that one report updates one record atomically.

Records are frozen: a change produces a new record (``dataclasses.replace``), so a store can hand
out snapshots without anyone mutating them behind its back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum

from talkbox.errors import NotFound
from talkbox.model.endpoint import Endpoint
from talkbox.model.states import (
    CallStatus,
    ConferenceStatus,
    EndReason,
    ParticipantState,
    check_transition,
)


class Role(StrEnum):
    CALLER = "caller"  # the room's first leg: whoever started it
    CALLEE = "callee"  # dialled by talkbox when the caller joined
    PARTICIPANT = "participant"  # added later to an existing room


@dataclass(frozen=True, slots=True)
class Call:
    """One leg: one endpoint's connection to a room, with the provider's id kept beside ours."""

    id: str
    conference_id: str
    endpoint: Endpoint
    role: Role
    status: CallStatus
    created_at: float
    provider_id: str | None = None
    #: Legs sharing a ring group ring together; the first to answer wins, the others stop.
    ring_group: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    #: Talk time in seconds once the leg ended (0 when it was never answered).
    duration: float | None = None
    #: Highest provider sequence number applied to this leg (None: no sequenced report yet).
    sequence: int | None = None

    @property
    def is_live(self) -> bool:
        return self.status.is_live

    @property
    def was_answered(self) -> bool:
        return self.answered_at is not None or self.status in (
            CallStatus.IN_PROGRESS,
            CallStatus.COMPLETED,
        )

    def advanced(self, status: CallStatus, at: float) -> Call:
        """The leg after moving to ``status`` at time ``at``; raises IllegalTransition."""
        check_transition(f"call {self.id}", self.status, status)
        changes: dict[str, object] = {"status": status}
        if status is CallStatus.IN_PROGRESS:
            changes["answered_at"] = at
        if status.is_terminal:
            changes["ended_at"] = at
            changes["end_reason"] = self.end_reason or EndReason.for_status(status)
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Participant:
    """A leg's membership of its room: whether it is in, muted, on hold."""

    call_id: str
    endpoint: Endpoint
    state: ParticipantState = ParticipantState.PENDING
    muted: bool = False
    on_hold: bool = False
    joined_at: float | None = None
    left_at: float | None = None
    #: Highest provider sequence number applied to this membership.
    sequence: int | None = None

    @property
    def is_joined(self) -> bool:
        return self.state is ParticipantState.JOINED


@dataclass(frozen=True, slots=True)
class Transfer:
    """A warm transfer under way: ``by`` talks to ``to`` while the others wait on hold."""

    by_call_id: str
    to_call_id: str
    held_call_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Conference:
    """A room and everything in it; the unit a store saves and a report updates."""

    id: str
    owner: Endpoint
    status: ConferenceStatus
    created_at: float
    calls: tuple[Call, ...] = ()
    participants: tuple[Participant, ...] = ()
    provider_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    #: The endpoint whose leg decided ``end_reason`` (the callee who was busy, say).
    end_party: Endpoint | None = None
    #: Highest provider sequence number applied to room-level reports (start, end).
    sequence: int | None = None
    transfer: Transfer | None = None
    #: Free-form labels for applications (e.g. the number a telephone call came in on).
    tags: tuple[tuple[str, str], ...] = field(default=())

    # -- lookups ---------------------------------------------------------------------------
    def call(self, call_id: str) -> Call:
        for call in self.calls:
            if call.id == call_id:
                return call
        raise NotFound("call", call_id)

    def participant(self, call_id: str) -> Participant:
        for participant in self.participants:
            if participant.call_id == call_id:
                return participant
        raise NotFound("participant", call_id)

    def call_by_provider_id(self, provider_id: str) -> Call | None:
        for call in self.calls:
            if call.provider_id == provider_id:
                return call
        return None

    def tag(self, name: str) -> str | None:
        return dict(self.tags).get(name)

    @property
    def caller(self) -> Call:
        """The first leg (the person who started the room)."""
        return self.calls[0]

    @property
    def parties(self) -> tuple[Endpoint, ...]:
        """Every endpoint ever in the room, first leg first, without repeats."""
        seen: dict[Endpoint, None] = {}
        for call in self.calls:
            seen.setdefault(call.endpoint, None)
        return tuple(seen)

    def live_calls(self) -> Iterator[Call]:
        return (call for call in self.calls if call.is_live)

    def connected(self) -> list[Call]:
        """Legs that are in the room right now: joined and not ended."""
        joined = {p.call_id for p in self.participants if p.is_joined}
        return [c for c in self.calls if c.id in joined and c.is_live]

    def pending(self) -> list[Call]:
        """Live legs on their way into the room: queued, being placed, ringing, just answered."""
        waiting = {p.call_id for p in self.participants if p.state is ParticipantState.PENDING}
        return [c for c in self.calls if c.id in waiting and c.is_live]

    # -- changes -------------------------------------------------------------------------
    def with_call(self, call: Call) -> Conference:
        """This room with ``call`` replacing the leg of the same id (or appended)."""
        calls = list(self.calls)
        for i, existing in enumerate(calls):
            if existing.id == call.id:
                calls[i] = call
                return replace(self, calls=tuple(calls))
        participant = Participant(call_id=call.id, endpoint=call.endpoint)
        return replace(
            self, calls=(*self.calls, call), participants=(*self.participants, participant)
        )

    def with_participant(self, participant: Participant) -> Conference:
        return replace(
            self,
            participants=tuple(
                participant if p.call_id == participant.call_id else p for p in self.participants
            ),
        )

    def with_status(self, status: ConferenceStatus) -> Conference:
        return replace(self, status=status)
