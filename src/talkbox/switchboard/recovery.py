"""Start-up reconciliation: make the store agree with what the provider says is live.

While talkbox was down, legs went on ringing, being answered and hanging up, and their reports
went nowhere (or to another process). On start-up the switchboard compares its live rooms with
the provider's :meth:`~talkbox.providers.base.Provider.live` view and feeds the differences
through :meth:`~talkbox.switchboard.Switchboard.apply` as ordinary reports, so the same rules
(room endings, callee placement, events) apply as if the reports had arrived in time:

* a leg the provider still has: its status and room membership are brought forward;
* a leg the provider no longer has: it ended, with the provider's final report when it can give
  one (:meth:`~talkbox.providers.base.Provider.final_report`), else ``completed`` if it had been
  answered and ``canceled`` if not;
* a room the provider has and the store lost (named ``conf_...`` by talkbox): adopted, with
  its legs in progress and joined, so that it can be seen, controlled and ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from talkbox import events as ev
from talkbox.errors import InvalidEndpoint
from talkbox.ids import new_call_id
from talkbox.model import (
    Call,
    CallStatus,
    Conference,
    ConferenceStatus,
    Endpoint,
    Participant,
    ParticipantState,
    Role,
)
from talkbox.providers.base import (
    CallReport,
    LiveCall,
    LiveConference,
    LiveParticipant,
    LiveView,
    ParticipantChange,
    ParticipantReport,
)

if TYPE_CHECKING:
    from talkbox.switchboard import Switchboard

log = logging.getLogger("talkbox.switchboard")


@dataclass
class Reconciliation:
    """What reconciling changed, by talkbox id."""

    updated: list[str] = field(default_factory=list)  # legs brought forward
    closed: list[str] = field(default_factory=list)  # legs that had ended meanwhile
    adopted: list[str] = field(default_factory=list)  # rooms the store had lost


def reconcile(board: Switchboard) -> Reconciliation:
    view: LiveView = board.provider.live()
    result = Reconciliation()
    live_legs = {leg.provider_call_id: leg for leg in view.calls}
    in_rooms: dict[str, tuple[LiveConference, LiveParticipant]] = {
        member.provider_call_id: (room, member)
        for room in view.conferences
        for member in room.participants
    }
    now = board.clock()
    for conf in board.store.live():
        for call in list(conf.live_calls()):
            if call.provider_id is None:
                if call.status is not CallStatus.QUEUED:
                    # Its placement was under way when we stopped; we never learnt its id.
                    board.apply(CallReport(CallStatus.FAILED, now, call_id=call.id))
                    result.closed.append(call.id)
                continue
            if call.provider_id in live_legs or call.provider_id in in_rooms:
                _bring_forward(board, conf, call, live_legs, in_rooms, now, result)
            else:
                final = board.provider.final_report(call.provider_id)
                if final is None:
                    status = CallStatus.COMPLETED if call.was_answered else CallStatus.CANCELED
                    final = CallReport(status, now, provider_call_id=call.provider_id)
                board.apply(final)
                result.closed.append(call.id)
    for room in view.conferences:
        if room.name.startswith("conf_") and not _known(board, room):
            adopted = _adopt(board, room, live_legs, now)
            if adopted is not None:
                result.adopted.append(adopted)
    log.info(
        "reconciled: %d legs updated, %d closed, %d rooms adopted",
        len(result.updated),
        len(result.closed),
        len(result.adopted),
    )
    return result


def _bring_forward(
    board: Switchboard,
    conf: Conference,
    call: Call,
    live_legs: dict[str, LiveCall],
    in_rooms: dict[str, tuple[LiveConference, LiveParticipant]],
    now: float,
    result: Reconciliation,
) -> None:
    sid = call.provider_id
    assert sid is not None
    leg = live_legs.get(sid)
    changed = False
    if leg is not None and leg.status is not call.status:
        changed |= board.apply(CallReport(leg.status, now, provider_call_id=sid)).value == "applied"
    membership = in_rooms.get(sid)
    participant = conf.participant(call.id)
    if membership is not None:
        room, member = membership
        report = ParticipantReport(
            ParticipantChange.MODIFIED,  # any membership report means "in the room"
            now,
            conference_id=conf.id,
            provider_conference_id=room.provider_conference_id,
            provider_call_id=sid,
            muted=member.muted,
            on_hold=member.on_hold,
        )
        changed |= board.apply(report).value == "applied"
    elif participant.state is ParticipantState.JOINED:
        report = ParticipantReport(
            ParticipantChange.LEFT, now, conference_id=conf.id, provider_call_id=sid
        )
        changed |= board.apply(report).value == "applied"
    if changed:
        result.updated.append(call.id)


def _known(board: Switchboard, room: LiveConference) -> bool:
    try:
        board.store.get(room.name)
    except Exception:
        return board.store.find(provider_conference_id=room.provider_conference_id) is not None
    return True


def _endpoint(leg: LiveCall, board: Switchboard) -> Endpoint | None:
    text = leg.from_ if leg.direction == "inbound" else leg.to
    try:
        return board.endpoint(text)
    except InvalidEndpoint:
        log.warning("cannot adopt leg %s: %r is not an endpoint talkbox handles", leg, text)
        return None


def _adopt(
    board: Switchboard, room: LiveConference, live_legs: dict[str, LiveCall], now: float
) -> str | None:
    """Recreate a room the store lost from the provider's view of it."""
    calls: list[Call] = []
    members: list[Participant] = []
    for member in room.participants:
        leg = live_legs.get(member.provider_call_id)
        endpoint = _endpoint(leg, board) if leg is not None else None
        if endpoint is None:
            continue
        call = Call(
            id=new_call_id(),
            conference_id=room.name,
            endpoint=endpoint,
            role=Role.CALLER if not calls else Role.PARTICIPANT,
            status=CallStatus.IN_PROGRESS,
            created_at=now,
            provider_id=member.provider_call_id,
            answered_at=now,
        )
        calls.append(call)
        members.append(
            Participant(
                call_id=call.id,
                endpoint=endpoint,
                state=ParticipantState.JOINED,
                muted=member.muted,
                on_hold=member.on_hold,
                joined_at=now,
            )
        )
    if not calls:
        return None
    conf = Conference(
        id=room.name,
        owner=calls[0].endpoint,
        status=ConferenceStatus.ACTIVE,
        created_at=now,
        calls=tuple(calls),
        participants=tuple(members),
        provider_id=room.provider_conference_id,
        started_at=now,
        tags=(("adopted", "true"),),
    )
    created: list[ev.Event] = [
        ev.ConferenceCreated(at=now, conference_id=conf.id, owner=str(conf.owner))
    ]
    created += [
        ev.CallCreated(
            at=now,
            conference_id=conf.id,
            call_id=c.id,
            endpoint=str(c.endpoint),
            role=c.role,
            status=c.status,
        )
        for c in calls
    ]
    board.adopt(conf, created)
    return conf.id
