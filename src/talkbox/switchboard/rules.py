"""The business rules as pure functions: (room, report or command, time) -> new room, events,
effects. The :class:`~talkbox.switchboard.Switchboard` runs them inside a store transaction and
then publishes the events and performs the effects (provider commands) outside it.

The rules in one place:

* A room's first leg is placed first; every other leg waits (``queued``) until somebody has
  joined, so nobody is rung into an empty room.
* Reports are applied idempotently: a report whose sequence number is not above the last one
  applied to the same leg (or membership, or room) is stale or a duplicate and changes nothing;
  so does a transition the state machine forbids. Terminal states absorb.
* A leg that joins the room was answered, whatever its own status report says so far.
* In a ring group the first leg to answer wins; the others are hung up.
* A room ends when nobody is left in it after someone has gone, or when one person is left,
  nobody else is on the way, and someone has gone. Ending cancels queued legs and asks the
  provider to hang up the rest. The room is *ended* (``ConferenceEnded``) only once every leg
  has ended, and its reason is computed from the legs' final outcomes, so it does not depend
  on the order the reports arrived in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from enum import StrEnum

from talkbox import events as ev
from talkbox.errors import Conflict
from talkbox.model import (
    Call,
    CallStatus,
    Conference,
    ConferenceStatus,
    EndReason,
    Participant,
    ParticipantState,
    can_transition,
)
from talkbox.providers.base import (
    CallReport,
    ConferenceChange,
    ConferenceReport,
    ParticipantChange,
    ParticipantReport,
)

log = logging.getLogger("talkbox.switchboard")


class EffectKind(StrEnum):
    PLACE = "place"  # provider.place_call: a room's first leg
    ADD = "add"  # provider.add_participant
    HANGUP = "hangup"  # provider.hangup
    FAREWELL = "farewell"  # provider.farewell: tell the one left why, then hang up
    RESUME = "resume"  # provider.set_on_hold(False): a warm transfer ended without a command


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    conference_id: str
    call_id: str
    reason: EndReason | None = None


@dataclass
class Builder:
    """Accumulates one change: the room as it evolves, its events and its effects."""

    conf: Conference
    now: float
    events: list[ev.Event] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    changed: bool = False

    # -- primitives ------------------------------------------------------------------------
    def put_call(self, call: Call) -> None:
        self.conf = self.conf.with_call(call)
        self.changed = True

    def put_participant(self, participant: Participant) -> None:
        self.conf = self.conf.with_participant(participant)
        self.changed = True

    def put_conf(self, **changes: object) -> None:
        self.conf = replace(self.conf, **changes)  # type: ignore[arg-type]
        self.changed = True

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)

    def command_failed(self, command: str, call_id: str | None, error: Exception) -> None:
        """Publish that the provider refused ``command`` (the log keeps it: ``changed``)."""
        code = getattr(error, "code", None)
        self.emit(
            ev.CommandFailed(
                at=self.now,
                conference_id=self.conf.id,
                command=command,
                call_id=call_id,
                message=str(error),
                code=str(code) if code is not None else None,
            )
        )
        self.changed = True

    def effect(self, kind: EffectKind, call: Call, reason: EndReason | None = None) -> None:
        self.effects.append(Effect(kind, self.conf.id, call.id, reason))

    def result(self) -> tuple[Conference, list[ev.Event]] | None:
        return (self.conf, self.events) if self.changed else None

    def call_args(self, call: Call, at: float) -> dict[str, object]:
        return {
            "at": at,
            "conference_id": self.conf.id,
            "call_id": call.id,
            "endpoint": str(call.endpoint),
        }

    # -- leg transitions -------------------------------------------------------------------
    def advance(
        self,
        call: Call,
        status: CallStatus,
        at: float,
        *,
        sequence: int | None = None,
        duration: float | None = None,
        reason: EndReason | None = None,
    ) -> Call:
        """Move ``call`` to ``status`` (the caller checked it is legal) with its events."""
        new = call.advanced(status, at)
        if sequence is not None:
            new = replace(new, sequence=sequence)
        if status.is_terminal:
            if duration is None:
                duration = max(at - new.answered_at, 0.0) if new.answered_at is not None else 0.0
            new = replace(new, duration=duration, end_reason=reason or new.end_reason)
        self.put_call(new)
        args = self.call_args(new, at)
        if status is CallStatus.INITIATED:
            self.emit(ev.CallInitiated(**args))  # type: ignore[arg-type]
        elif status is CallStatus.RINGING:
            self.emit(ev.CallRinging(**args))  # type: ignore[arg-type]
        elif status is CallStatus.IN_PROGRESS:
            self.emit(ev.CallAnswered(**args))  # type: ignore[arg-type]
            self.ring_group_won(new)
        else:
            assert new.end_reason is not None
            assert new.duration is not None
            participant = self.conf.participant(new.id)
            if participant.state is ParticipantState.JOINED:
                self.leave(participant, at)  # the room learns first, then the leg's end
            elif participant.state is ParticipantState.PENDING:
                self.put_participant(replace(participant, state=ParticipantState.LEFT))
                self.transfer_party_gone(new.id, at)
            self.emit(
                ev.CallEnded(
                    **args,  # type: ignore[arg-type]
                    status=status,
                    reason=new.end_reason,
                    duration=new.duration,
                )
            )
        return new

    def cancel_unplaced(self, call: Call) -> None:
        """End a leg that never reached the provider; there is nothing to hang up."""
        self.advance(call, CallStatus.CANCELED, self.now)

    def ring_group_won(self, winner: Call) -> None:
        if winner.ring_group is None:
            return
        for other in list(self.conf.live_calls()):
            if other.id != winner.id and other.ring_group == winner.ring_group:
                if other.status is CallStatus.QUEUED:
                    self.cancel_unplaced(other)
                elif other.provider_id is not None:
                    self.effect(EffectKind.HANGUP, other)

    def dispatch(self, call: Call, kind: EffectKind) -> None:
        """Hand a queued leg to the provider (the effect runs after the transaction)."""
        self.advance(call, CallStatus.INITIATED, self.now)
        self.effect(kind, call)

    def dispatch_queued(self) -> None:
        for call in list(self.conf.calls):
            if call.status is CallStatus.QUEUED:
                self.dispatch(call, EffectKind.ADD)

    # -- membership ------------------------------------------------------------------------
    def join(self, participant: Participant, at: float) -> None:
        self.put_participant(replace(participant, state=ParticipantState.JOINED, joined_at=at))
        call = self.conf.call(participant.call_id)
        self.emit(ev.ParticipantJoined(**self.call_args(call, at)))  # type: ignore[arg-type]
        if self.conf.status is ConferenceStatus.CREATED:
            self.start(at)
        if self.conf.status.is_open:
            self.dispatch_queued()

    def leave(self, participant: Participant, at: float) -> None:
        self.put_participant(replace(participant, state=ParticipantState.LEFT, left_at=at))
        call = self.conf.call(participant.call_id)
        self.emit(ev.ParticipantLeft(**self.call_args(call, at)))  # type: ignore[arg-type]
        self.transfer_party_gone(call.id, at)

    def transfer_party_gone(self, call_id: str, at: float) -> None:
        """A warm transfer ends on its own when one side of the consultation goes: the
        transferor hanging up hands the room over (completed), the target hanging up or not
        answering gives it back (canceled). Either way nobody is left on hold for ever."""
        transfer = self.conf.transfer
        if transfer is None or call_id not in (transfer.by_call_id, transfer.to_call_id):
            return
        self.put_conf(transfer=None)
        event_type = ev.TransferCompleted if call_id == transfer.by_call_id else ev.TransferCanceled
        by = self.conf.call(transfer.by_call_id)
        self.emit(event_type(**self.call_args(by, at), target_call_id=transfer.to_call_id))  # type: ignore[arg-type]
        for held_id in transfer.held_call_ids:
            held = self.conf.call(held_id)
            if held.is_live and self.conf.participant(held_id).is_joined:
                self.effect(EffectKind.RESUME, held)

    def set_flags(self, participant: Participant, muted: bool, on_hold: bool, at: float) -> None:
        participant = self.conf.participant(participant.call_id)
        if participant.muted == muted and participant.on_hold == on_hold:
            return
        self.put_participant(replace(participant, muted=muted, on_hold=on_hold))
        args = self.call_args(self.conf.call(participant.call_id), at)
        if participant.muted != muted:
            event_type = ev.ParticipantMuted if muted else ev.ParticipantUnmuted
            self.emit(event_type(**args))  # type: ignore[arg-type]
        if participant.on_hold != on_hold:
            hold_type = ev.ParticipantHeld if on_hold else ev.ParticipantResumed
            self.emit(hold_type(**args))  # type: ignore[arg-type]

    # -- room ------------------------------------------------------------------------------
    def start(self, at: float) -> None:
        self.put_conf(status=ConferenceStatus.ACTIVE, started_at=at)
        self.emit(ev.ConferenceStarted(at=at, conference_id=self.conf.id))

    def begin_ending(self) -> None:
        """Stop the room: cancel what is queued, ask the provider to hang up the rest."""
        if not self.conf.status.is_open:
            return
        self.put_conf(status=ConferenceStatus.ENDING)
        unanswered = self.unanswered_reason()
        for call in list(self.conf.live_calls()):
            if call.status is CallStatus.QUEUED:
                self.cancel_unplaced(call)
            elif call.provider_id is not None and not self.has_left(call):
                if unanswered is not None and call.id == self.conf.calls[0].id:
                    self.effect(EffectKind.FAREWELL, call, unanswered)
                else:
                    self.effect(EffectKind.HANGUP, call)
            # A leg being placed right now has no provider id yet: it is hung up as soon as
            # the placement returns one (see record_placement).

    def unanswered_reason(self) -> EndReason | None:
        """Why the first leg, connected, is left alone without anybody having answered it
        (``no-answer``, ``busy`` ...), or None when that is not what is happening."""
        first, others = self.conf.calls[0], self.conf.calls[1:]
        if not first.was_answered or not others or any(c.is_live for c in others):
            return None
        reason, _ = outcome(self.conf)
        return None if reason in (EndReason.COMPLETED, EndReason.CANCELED) else reason

    def has_left(self, call: Call) -> bool:
        """Left the room already: its leg is ending on its own, no need to hang it up."""
        return self.conf.participant(call.id).state is ParticipantState.LEFT

    def settle(self) -> None:
        """Apply the room-level rules after any change."""
        conf = self.conf
        if conf.status is ConferenceStatus.ENDED:
            return
        if conf.status.is_open and should_end(conf):
            self.begin_ending()
            conf = self.conf
        if all(not call.is_live for call in conf.calls):
            self.finish()

    def finish(self) -> None:
        conf = self.conf
        reason, party = outcome(conf)
        ended_at = max((c.ended_at or self.now for c in conf.calls), default=self.now)
        duration = max((c.duration or 0.0 for c in conf.calls), default=0.0)
        self.put_conf(
            status=ConferenceStatus.ENDED,
            ended_at=ended_at,
            end_reason=reason,
            end_party=party.endpoint if party else None,
            transfer=None,
        )
        self.emit(
            ev.ConferenceEnded(
                at=ended_at,
                conference_id=conf.id,
                owner=str(conf.owner),
                reason=reason,
                party=str(party.endpoint) if party else None,
                parties=tuple(str(e) for e in conf.parties),
                duration=duration,
                created_at=conf.created_at,
            )
        )


def should_end(conf: Conference) -> bool:
    """Whether an open room is over.

    * Nobody is in it, and either someone who was in it has left (the last person hung up:
      stop those still on the way) or nobody can join any more (only legs waiting for a
      first join are left, and someone has already gone).
    * One person is in it, nobody else is on the way, and someone has gone.
    """
    someone_gone = any(not c.is_live for c in conf.calls) or any(
        p.state is ParticipantState.LEFT for p in conf.participants
    )
    if not someone_gone:
        return False
    connected = conf.connected()
    pending = conf.pending()
    if not connected:
        someone_left_room = any(
            p.state is ParticipantState.LEFT and p.left_at is not None for p in conf.participants
        )
        return someone_left_room or all(c.status is CallStatus.QUEUED for c in pending)
    return len(connected) == 1 and not pending


def outcome(conf: Conference) -> tuple[EndReason, Call | None]:
    """Why an ended room ended, from its legs' final outcomes (order-independent).

    Somebody besides the first leg answered: ``completed``. The first leg was never answered:
    its own reason (the caller could not be reached). Otherwise the outcome of the first other
    leg that did not end as a mere consequence (``canceled``), e.g. ``busy``.
    """
    first, others = conf.calls[0], conf.calls[1:]
    if not first.was_answered:
        return first.end_reason or EndReason.CANCELED, first
    if not others or any(c.was_answered for c in others):
        return EndReason.COMPLETED, None
    decisive = next((c for c in others if c.end_reason is not EndReason.CANCELED), others[0])
    return decisive.end_reason or EndReason.FAILED, decisive


def _newer(sequence: int | None, last: int | None) -> bool:
    return sequence is None or last is None or sequence > last


# -- reports -------------------------------------------------------------------------------
def apply_call_report(b: Builder, call: Call, report: CallReport) -> None:
    if not _newer(report.sequence, call.sequence):
        log.debug("stale or duplicate report for %s: %s", call.id, report)
        return
    at = report.timestamp if report.timestamp is not None else b.now
    if call.provider_id is None and report.provider_call_id:
        call = replace(call, provider_id=report.provider_call_id)
        b.put_call(call)
    if report.status is call.status or (
        report.status is CallStatus.INITIATED and call.status is CallStatus.QUEUED
    ):
        return
    if not can_transition(call.status, report.status):
        log.info(
            "dropped report for %s: %s -> %s is not a legal transition",
            call.id,
            call.status,
            report.status,
        )
        return
    b.advance(
        call,
        report.status,
        at,
        sequence=report.sequence,
        duration=report.duration,
        reason=report.reason,
    )
    if report.status is CallStatus.IN_PROGRESS and not b.conf.status.is_open:
        b.effect(EffectKind.HANGUP, b.conf.call(call.id))  # answered into a room that is over
    b.settle()


def apply_participant_report(b: Builder, call: Call, report: ParticipantReport) -> None:
    participant = b.conf.participant(call.id)
    if not _newer(report.sequence, participant.sequence) or (
        participant.state is ParticipantState.LEFT
    ):
        return
    at = report.timestamp if report.timestamp is not None else b.now
    if report.sequence is not None:
        b.put_participant(replace(participant, sequence=report.sequence))
        participant = b.conf.participant(call.id)
    change = report.change
    if change is ParticipantChange.LEFT:
        b.leave(participant, at)
        b.settle()
        return
    if participant.state is ParticipantState.PENDING:
        # Any membership report but a departure means the leg is in the room: joined (and so
        # answered), even if the join report itself is late or lost.
        if not call.is_live:
            return  # reported after the leg already ended
        if can_transition(call.status, CallStatus.IN_PROGRESS):
            b.advance(call, CallStatus.IN_PROGRESS, at)
        b.join(b.conf.participant(call.id), at)
        if not b.conf.status.is_open:
            b.effect(EffectKind.HANGUP, b.conf.call(call.id))
    muted = report.muted
    if muted is None:
        muted = {ParticipantChange.MUTED: True, ParticipantChange.UNMUTED: False}.get(
            change, participant.muted
        )
    on_hold = report.on_hold
    if on_hold is None:
        on_hold = {ParticipantChange.HELD: True, ParticipantChange.RESUMED: False}.get(
            change, participant.on_hold
        )
    b.set_flags(participant, muted, on_hold, at)
    b.settle()


def apply_conference_report(b: Builder, report: ConferenceReport) -> None:
    conf = b.conf
    if not _newer(report.sequence, conf.sequence) or conf.status is ConferenceStatus.ENDED:
        return
    at = report.timestamp if report.timestamp is not None else b.now
    if report.sequence is not None:
        b.put_conf(sequence=report.sequence)
    if report.change is ConferenceChange.STARTED:
        if conf.status is ConferenceStatus.CREATED:
            b.start(at)
    else:
        b.begin_ending()
        for participant in b.conf.participants:
            if participant.state is ParticipantState.JOINED:
                b.leave(participant, at)
    b.settle()


# -- commands --------------------------------------------------------------------------------
def record_placement(b: Builder, call: Call, provider_id: str) -> None:
    """The provider accepted a leg and named it; hang it up if the room ended meanwhile."""
    if call.provider_id != provider_id:
        b.put_call(replace(call, provider_id=provider_id))
    if not b.conf.status.is_open and call.is_live:
        b.effect(EffectKind.HANGUP, b.conf.call(call.id))


def placement_failed(b: Builder, call: Call, command: str, error: Exception) -> None:
    """The provider refused a leg: it failed, with the provider's reason when it has one."""
    reason = getattr(error, "reason", None)
    b.command_failed(command, call.id, error)
    if call.is_live:
        b.advance(
            call,
            CallStatus.FAILED,
            b.now,
            reason=reason if isinstance(reason, EndReason) else EndReason.FAILED,
        )
    b.settle()


def require_open(conf: Conference) -> None:
    if not conf.status.is_open:
        raise Conflict(f"conference {conf.id} has {conf.status.value}; start a new call")


def require_live(call: Call) -> None:
    if not call.is_live:
        raise Conflict(f"call {call.id} has already ended ({call.status.value})")


def require_joined(conf: Conference, call: Call) -> None:
    require_live(call)
    if not conf.participant(call.id).is_joined:
        raise Conflict(f"call {call.id} is not in the room yet ({call.status.value})")
