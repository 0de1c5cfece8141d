"""The switchboard: the application service every entry point talks to.

It turns commands (``dial``, ``hangup``, ``add_participant`` ...) into provider requests, applies
provider reports to the store through the rules in :mod:`talkbox.switchboard.rules`, and
publishes the resulting events, in log order, on the blinker signals of :mod:`talkbox.events`.

Concurrency: store transactions run outside any switchboard lock, so threads applying reports
to different rooms overlap their store round trips (the store itself keeps each room's update
atomic). Events still leave in the order they were logged: the store numbers them in commit
order, and a commit's events are held back until every commit that was already in flight when
it returned has returned too (any commit started later is numbered after it); then the held
events leave lowest id first. Provider requests never run under a lock. Work the rules ask
for on their own (placing a callee when the caller joins, hanging up the last leg) runs through
``run_effect`` - by default a small thread pool, so that a webhook applying a report answers at
once and never waits on the provider's REST API.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from talkbox import events as ev
from talkbox.errors import Conflict, InvalidEndpoint, NotFound, ProviderError, TalkboxError
from talkbox.ids import new_call_id, new_conference_id
from talkbox.model import (
    Call,
    CallStatus,
    Conference,
    ConferenceStatus,
    Endpoint,
    Role,
    Transfer,
)
from talkbox.providers.base import (
    CallReport,
    ConferenceReport,
    Credentials,
    ParticipantReport,
    Provider,
    Report,
)
from talkbox.store import LoggedEvent, Store
from talkbox.switchboard import rules
from talkbox.switchboard.recovery import Reconciliation, reconcile
from talkbox.switchboard.rules import Builder, Effect, EffectKind

log = logging.getLogger("talkbox.switchboard")

EndpointLike = Endpoint | str


class Applied(StrEnum):
    """What :meth:`Switchboard.apply` did with a report."""

    APPLIED = "applied"  # the state changed
    IGNORED = "ignored"  # duplicate, stale or illegal: nothing changed
    PARKED = "parked"  # about a leg not recorded yet; replayed when it is
    UNKNOWN = "unknown"  # names nothing talkbox knows; dropped


@dataclass(frozen=True, slots=True)
class _Parked:
    at: float
    report: Report


class Switchboard:
    """Commands, queries and report application for one store and one provider."""

    def __init__(
        self,
        store: Store,
        provider: Provider,
        *,
        clock: Callable[[], float] = time.time,
        run_effect: Callable[[Callable[[], None]], Any] | None = None,
        default_region: str = "US",
        orphan_ttl: float = 60.0,
        max_orphans: int = 10_000,
    ) -> None:
        self.store = store
        self.provider = provider
        self.clock = clock
        self.default_region = default_region
        self._lock = threading.Lock()
        self._outbox: deque[LoggedEvent] = deque()
        # Commits under way (by start ticket, oldest first) and the events of finished ones
        # waiting for older commits still in flight: (event id, ticket bound, tiebreak, entry).
        self._tickets = itertools.count()
        self._in_flight: dict[int, None] = {}
        self._held: list[tuple[int, int, int, LoggedEvent]] = []
        self._tiebreak = itertools.count()
        self._dispatching = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._run_effect = run_effect or self._submit
        self._orphans: dict[str, list[_Parked]] = {}
        self._orphan_lock = threading.Lock()
        self._orphan_ttl = orphan_ttl
        self._max_orphans = max_orphans

    # -- plumbing ------------------------------------------------------------------------
    def _submit(self, work: Callable[[], None]) -> None:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(4, thread_name_prefix="talkbox-effects")
        self._pool.submit(work)

    def close(self) -> None:
        """Finish queued provider work and stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def endpoint(self, value: EndpointLike) -> Endpoint:
        return value if isinstance(value, Endpoint) else Endpoint.parse(value, self.default_region)

    def _change(self, conference_id: str, fn: Callable[[Builder], None]) -> Builder:
        """Run ``fn`` on the room inside a store transaction, then publish and perform."""
        now = self.clock()
        outcome: list[Builder] = []

        def run(conf: Conference) -> tuple[Conference, list[ev.Event]] | None:
            builder = Builder(conf, now)
            fn(builder)
            outcome[:] = [builder]
            return builder.result()

        with self._committing() as done:
            _, logged = self.store.update(conference_id, run)
            done(logged)
        self._drain()
        builder = outcome[0]
        for effect in builder.effects:
            self._run_effect(lambda effect=effect: self._perform(effect))  # type: ignore[misc]
        return builder

    def _create(self, conf: Conference, fn: Callable[[Builder], None]) -> Builder:
        builder = Builder(conf, self.clock())
        fn(builder)
        with self._committing() as done:
            done(self.store.add(builder.conf, builder.events))
        self._drain()
        return builder

    @contextlib.contextmanager
    def _committing(self) -> Iterator[Callable[[Sequence[LoggedEvent]], None]]:
        """Run one store commit outside the lock; hand its logged events to ``done``.

        The store numbers events in commit order. A commit still in flight when this one
        returns may yet be numbered lower, so these events wait (in ``_held``) until every
        such commit has returned; commits started after this one returned are numbered
        higher and do not hold it back. Released events join the outbox lowest id first.
        """
        with self._lock:
            ticket = next(self._tickets)
            self._in_flight[ticket] = None
        logged: Sequence[LoggedEvent] = ()

        def done(entries: Sequence[LoggedEvent]) -> None:
            nonlocal logged
            logged = entries

        try:
            yield done
        finally:
            with self._lock:
                del self._in_flight[ticket]
                if not self._in_flight and not self._held:
                    self._outbox.extend(logged)  # the common case: nothing to wait for
                else:
                    # Commits with a ticket >= bound started after this one returned.
                    bound = next(self._tickets)
                    for entry in logged:
                        heapq.heappush(self._held, (entry.id, bound, next(self._tiebreak), entry))
                    oldest = next(iter(self._in_flight), None)
                    while self._held and (oldest is None or oldest >= self._held[0][1]):
                        self._outbox.append(heapq.heappop(self._held)[3])

    def _drain(self) -> None:
        """Send queued events in log order; whichever thread holds the dispatch lock sends
        everything, and a publish from inside a receiver is sent after the current event."""
        while True:
            if not self._dispatching.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        entry = self._outbox.popleft()
                    try:
                        ev.publish(entry.event, self, event_id=entry.id, parties=entry.parties)
                    except Exception:
                        log.exception("an event receiver failed on %s", entry.event.name)
            finally:
                self._dispatching.release()
            with self._lock:
                if not self._outbox:
                    return

    def _perform(self, effect: Effect) -> None:
        """Carry out one effect the rules asked for; failures become events, never crashes."""
        try:
            conf = self.store.get(effect.conference_id)
            call = conf.call(effect.call_id)
            if effect.kind is EffectKind.HANGUP:
                self.provider.hangup(call)
                return
            if effect.kind is EffectKind.FAREWELL:
                assert effect.reason is not None
                self.provider.farewell(call, effect.reason)
                return
            if effect.kind is EffectKind.RESUME:
                self.provider.set_on_hold(conf, call, False)
                return
            if effect.kind is EffectKind.PLACE:
                provider_id = self.provider.place_call(conf, call)
            else:
                provider_id = self.provider.add_participant(conf, call)
        except Exception as exc:
            if not isinstance(exc, TalkboxError):
                log.exception("provider %s failed on %s", self.provider.name, effect)
            else:
                log.warning("provider %s refused %s: %s", self.provider.name, effect, exc)
            self._effect_failed(effect, exc)
            return
        self._placed(effect.conference_id, effect.call_id, provider_id)

    def _effect_failed(self, effect: Effect, exc: Exception) -> None:
        if effect.kind in (EffectKind.HANGUP, EffectKind.FAREWELL, EffectKind.RESUME):
            self._record_failure(effect.conference_id, effect.kind.value, effect.call_id, exc)
            return
        self._change(
            effect.conference_id,
            lambda b: rules.placement_failed(
                b, b.conf.call(effect.call_id), effect.kind.value, exc
            ),
        )

    def _placed(self, conference_id: str, call_id: str, provider_id: str) -> None:
        self._change(
            conference_id, lambda b: rules.record_placement(b, b.conf.call(call_id), provider_id)
        )
        for parked in self._unpark(provider_id):
            self.apply(parked.report)

    # -- orphans ---------------------------------------------------------------------------
    def _park(self, key: str, report: Report) -> None:
        now = self.clock()
        with self._orphan_lock:
            for stale_key in [
                k for k, v in self._orphans.items() if now - v[0].at > self._orphan_ttl
            ]:
                log.info(
                    "dropped reports for unknown leg %s after %ss", stale_key, self._orphan_ttl
                )
                del self._orphans[stale_key]
            if key not in self._orphans and len(self._orphans) >= self._max_orphans:
                oldest = next(iter(self._orphans))
                del self._orphans[oldest]
            self._orphans.setdefault(key, []).append(_Parked(now, report))

    def _unpark(self, key: str) -> list[_Parked]:
        with self._orphan_lock:
            return self._orphans.pop(key, [])

    # -- reports -------------------------------------------------------------------------
    def apply(self, report: Report) -> Applied:
        """Apply a provider report. Idempotent and order-tolerant; safe from any thread."""
        conference_id = self._resolve(report)
        provider_call_id = getattr(report, "provider_call_id", None)
        if conference_id is None:
            if provider_call_id:
                self._park(provider_call_id, report)
                return Applied.PARKED
            log.info("dropped a report about nothing talkbox knows: %s", report)
            return Applied.UNKNOWN
        missing: list[bool] = []

        def run(b: Builder) -> None:
            missing.clear()
            if isinstance(report, ConferenceReport):
                if report.provider_conference_id and b.conf.provider_id is None:
                    b.put_conf(provider_id=report.provider_conference_id)
                rules.apply_conference_report(b, report)
                return
            call = _leg(b.conf, report.call_id, report.provider_call_id)
            if call is None:
                missing.append(True)
                return
            if isinstance(report, CallReport):
                rules.apply_call_report(b, call, report)
            else:
                if report.provider_conference_id and b.conf.provider_id is None:
                    b.put_conf(provider_id=report.provider_conference_id)
                rules.apply_participant_report(b, call, report)

        try:
            builder = self._change(conference_id, run)
        except NotFound:
            return Applied.UNKNOWN
        if missing:
            if provider_call_id:
                self._park(provider_call_id, report)
                return Applied.PARKED
            return Applied.UNKNOWN
        return Applied.APPLIED if builder.changed else Applied.IGNORED

    def _resolve(self, report: Report) -> str | None:
        if isinstance(report, CallReport):
            return self.store.find(call_id=report.call_id, provider_call_id=report.provider_call_id)
        if report.conference_id:
            return report.conference_id
        if isinstance(report, ParticipantReport):
            return self.store.find(
                call_id=report.call_id,
                provider_call_id=report.provider_call_id,
                provider_conference_id=report.provider_conference_id,
            )
        return self.store.find(provider_conference_id=report.provider_conference_id)

    # -- recovery ------------------------------------------------------------------------
    def reconcile(self) -> Reconciliation:
        """Make the store agree with the provider's live view (run at start-up)."""
        return reconcile(self)

    def adopt(self, conference: Conference, created: Sequence[ev.Event]) -> None:
        """Record a room rebuilt from the provider's view; then apply the room rules to it."""

        def record(b: Builder) -> None:
            for event in created:
                b.emit(event)

        self._create(conference, record)
        self._change(conference.id, lambda b: b.settle())

    # -- queries -------------------------------------------------------------------------
    def get(self, conference_id: str) -> Conference:
        return self.store.get(conference_id)

    def find_call(self, call_id: str) -> tuple[Conference, Call]:
        conference_id = self.store.find(call_id=call_id)
        if conference_id is None:
            raise NotFound("call", call_id)
        conf = self.store.get(conference_id)
        return conf, conf.call(call_id)

    def live(self) -> list[Conference]:
        return self.store.live()

    def history(
        self, party: EndpointLike | None = None, limit: int = 50
    ) -> list[ev.ConferenceEnded]:
        """Ended rooms, newest first, optionally only those ``party`` took part in."""
        who = str(self.endpoint(party)) if party is not None else None
        return [
            entry.event
            for entry in self.store.history(party=who, limit=limit)
            if isinstance(entry.event, ev.ConferenceEnded)
        ]

    def credentials(self, identity: str, ttl: int | None = None) -> Credentials:
        """Browser credentials for an identity the caller has already authenticated."""
        return self.provider.credentials(Endpoint.client(identity).value, ttl)

    # -- commands: rooms -------------------------------------------------------------------
    def dial(self, from_: EndpointLike, to: EndpointLike | Sequence[EndpointLike]) -> Conference:
        """Call ``to`` from ``from_``: ``from_``'s leg is placed first, ``to`` is dialled once it
        has joined. Several ``to`` ring together and the first to answer wins."""
        callees = _many(to)
        return self._open(self.endpoint(from_), [self.endpoint(e) for e in callees], ring=True)

    def start_conference(
        self, owner: EndpointLike, participants: Iterable[EndpointLike] = ()
    ) -> Conference:
        """Open a room for ``owner`` and dial everyone in ``participants`` once they joined."""
        people = [self.endpoint(e) for e in participants]
        return self._open(self.endpoint(owner), people, ring=False)

    def incoming(
        self,
        from_: EndpointLike,
        to: EndpointLike | Sequence[EndpointLike],
        *,
        provider_call_id: str,
        status: CallStatus = CallStatus.RINGING,
        tags: Iterable[tuple[str, str]] = (),
    ) -> Conference:
        """Record an inbound leg that already exists at the provider (a browser or telephone
        calling in) and the people to ring once it has joined its room. The adapter then
        connects the leg to the room (TwiML, signalling) using the returned room's id."""
        existing = self.store.find(provider_call_id=provider_call_id)
        if existing is not None:
            return self.store.get(existing)  # the provider retried its webhook
        callees = [self.endpoint(e) for e in _many(to)]
        return self._open(
            self.endpoint(from_),
            callees,
            ring=True,
            caller_provider_id=provider_call_id,
            caller_status=status,
            tags=tuple(tags),
        )

    def _open(
        self,
        owner: Endpoint,
        callees: list[Endpoint],
        *,
        ring: bool,
        caller_provider_id: str | None = None,
        caller_status: CallStatus = CallStatus.INITIATED,
        tags: tuple[tuple[str, str], ...] = (),
    ) -> Conference:
        now = self.clock()
        conf_id = new_conference_id()
        group = f"ring_{conf_id}" if ring and len(callees) > 1 else None
        caller = Call(
            id=new_call_id(),
            conference_id=conf_id,
            endpoint=owner,
            role=Role.CALLER,
            status=caller_status,
            created_at=now,
            provider_id=caller_provider_id,
        )
        if caller_status is CallStatus.IN_PROGRESS:
            caller = replace(caller, answered_at=now)
        conf = Conference(
            id=conf_id, owner=owner, status=ConferenceStatus.CREATED, created_at=now, tags=tags
        )

        def build(b: Builder) -> None:
            b.put_call(caller)
            b.emit(ev.ConferenceCreated(at=now, conference_id=conf_id, owner=str(owner)))
            for call in [caller, *self._new_legs(conf_id, callees, Role.CALLEE, now, group)]:
                b.put_call(call)
                b.emit(
                    ev.CallCreated(
                        **b.call_args(call, now),  # type: ignore[arg-type]
                        role=call.role,
                        status=call.status,
                    )
                )

        self._create(conf, build)
        if caller_provider_id is None:
            try:
                provider_id = self.provider.place_call(conf.with_call(caller), caller)
            except Exception as exc:
                self._effect_failed(Effect(EffectKind.PLACE, conf_id, caller.id), exc)
                raise
            self._placed(conf_id, caller.id, provider_id)
        return self.store.get(conf_id)

    def _new_legs(
        self,
        conf_id: str,
        endpoints: Sequence[Endpoint],
        role: Role,
        now: float,
        group: str | None = None,
    ) -> list[Call]:
        return [
            Call(
                id=new_call_id(),
                conference_id=conf_id,
                endpoint=endpoint,
                role=role,
                status=CallStatus.QUEUED,
                created_at=now,
                ring_group=group,
            )
            for endpoint in endpoints
        ]

    def add_participant(self, conference_id: str, endpoint: EndpointLike) -> Call:
        """Dial ``endpoint`` into the room (at once if somebody is in it, else once somebody
        joins). Turning a two-party call into a conference is just this."""
        target = self.endpoint(endpoint)
        (call,) = self._new_legs(conference_id, [target], Role.PARTICIPANT, self.clock())

        def add(b: Builder) -> None:
            rules.require_open(b.conf)
            if any(c.endpoint == target and c.is_live for c in b.conf.calls):
                raise Conflict(f"{target} is already in conference {b.conf.id}")
            b.put_call(call)
            b.emit(
                ev.CallCreated(
                    **b.call_args(call, b.now),  # type: ignore[arg-type]
                    role=call.role,
                    status=call.status,
                )
            )
            if b.conf.connected():
                b.dispatch(b.conf.call(call.id), EffectKind.ADD)

        self._change(conference_id, add)
        return self.store.get(conference_id).call(call.id)

    def end_conference(self, conference_id: str) -> None:
        """End the room: queued legs are canceled, the provider hangs up the rest."""

        def end(b: Builder) -> None:
            rules.require_open(b.conf)
            b.begin_ending()
            b.settle()

        self._change(conference_id, end)

    # -- commands: legs ----------------------------------------------------------------------
    def _command(self, conf: Conference, call: Call, name: str, fn: Callable[[], None]) -> None:
        """Run a user's provider command; a failure is published and re-raised."""
        try:
            fn()
        except ProviderError as exc:
            self._record_failure(conf.id, name, call.id, exc)
            raise

    def _record_failure(
        self, conference_id: str, command: str, call_id: str | None, error: Exception
    ) -> None:
        self._change(conference_id, lambda b: b.command_failed(command, call_id, error))

    def hangup(self, call_id: str) -> None:
        """End one leg. In a two-party call that ends the call; in a conference, that person
        leaves."""
        conf, call = self.find_call(call_id)
        rules.require_live(call)
        if call.status is CallStatus.QUEUED:

            def cancel(b: Builder) -> None:
                current = b.conf.call(call_id)
                if current.status is CallStatus.QUEUED:
                    b.cancel_unplaced(current)
                    b.settle()

            self._change(conf.id, cancel)
            return
        if call.provider_id is None:
            raise Conflict(f"call {call_id} is still being placed; try again in a moment")
        self._command(conf, call, "hangup", lambda: self.provider.hangup(call))

    def remove(self, call_id: str) -> None:
        """Take a participant out of the room (their leg ends)."""
        conf, call = self.find_call(call_id)
        rules.require_live(call)
        if not conf.participant(call_id).is_joined:
            self.hangup(call_id)
            return
        self._command(conf, call, "remove", lambda: self.provider.remove_participant(conf, call))

    def mute(self, call_id: str, muted: bool = True) -> None:
        conf, call = self.find_call(call_id)
        rules.require_joined(conf, call)
        if conf.participant(call_id).muted == muted:
            return
        name = "mute" if muted else "unmute"
        self._command(conf, call, name, lambda: self.provider.set_muted(conf, call, muted))

    def unmute(self, call_id: str) -> None:
        self.mute(call_id, False)

    def hold(self, call_id: str, on_hold: bool = True) -> None:
        conf, call = self.find_call(call_id)
        rules.require_joined(conf, call)
        if conf.participant(call_id).on_hold == on_hold:
            return
        name = "hold" if on_hold else "unhold"
        self._command(conf, call, name, lambda: self.provider.set_on_hold(conf, call, on_hold))

    def unhold(self, call_id: str) -> None:
        self.hold(call_id, False)

    # -- commands: transfer -----------------------------------------------------------------
    def transfer(self, call_id: str, to: EndpointLike, warm: bool = False) -> Call:
        """Hand the room from ``call_id`` (the transferor) to ``to``.

        Cold: ``to`` is dialled and the transferor leaves at once; the others wait for ``to``.
        Warm: the others are put on hold while the transferor talks to ``to``; then
        :meth:`complete_transfer` (transferor leaves, others resume) or
        :meth:`cancel_transfer` (``to`` is hung up, others resume).
        """
        target = self.endpoint(to)
        conf, transferor = self.find_call(call_id)
        rules.require_open(conf)
        rules.require_joined(conf, transferor)
        if conf.transfer is not None:
            raise Conflict(f"conference {conf.id} already has a transfer under way")
        if any(c.endpoint == target and c.is_live for c in conf.calls):
            raise Conflict(f"{target} is already in conference {conf.id}")
        held = [c for c in conf.connected() if c.id != call_id] if warm else []
        done: list[Call] = []
        try:
            for other in held:
                self.hold(other.id)
                done.append(other)
            leg = self.add_participant(conf.id, target)
        except TalkboxError:
            # Nobody is left on hold by a transfer that did not start.
            for other in done:
                with contextlib.suppress(ProviderError):  # published by _resume already
                    self._resume(conf, other)
            raise

        def started(b: Builder) -> None:
            if warm:
                b.put_conf(transfer=Transfer(call_id, leg.id, tuple(c.id for c in held)))
            b.emit(
                ev.TransferStarted(
                    **b.call_args(transferor, b.now),  # type: ignore[arg-type]
                    target=str(target),
                    target_call_id=leg.id,
                    warm=warm,
                )
            )
            b.changed = True
            if warm and not b.conf.call(leg.id).is_live:
                # The provider refused the target before the transfer was recorded (effects
                # may run inline): end it now rather than leave the others on hold.
                b.transfer_party_gone(leg.id, b.now)

        self._change(conf.id, started)
        if not warm:
            self.hangup(call_id)
        return self.store.get(conf.id).call(leg.id)

    def _resume(self, conf: Conference, call: Call) -> None:
        """Take a party a transfer put on hold off hold, whether or not the provider has
        reported the hold yet (``unhold`` would skip it then)."""
        self._command(conf, call, "unhold", lambda: self.provider.set_on_hold(conf, call, False))

    def _finish_transfer(self, conference_id: str, complete: bool) -> None:
        conf = self.store.get(conference_id)
        transfer = conf.transfer
        if transfer is None:
            raise Conflict(f"conference {conference_id} has no transfer under way")
        for held_id in transfer.held_call_ids:
            held = conf.call(held_id)
            # Not ``unhold``: that skips a party the store does not show on hold yet, and the
            # provider's hold report may still be on its way. The hold we asked for is real
            # either way, and resuming twice is harmless.
            if held.is_live and conf.participant(held_id).is_joined:
                self._resume(conf, held)
        leaving = conf.call(transfer.by_call_id if complete else transfer.to_call_id)

        def finished(b: Builder) -> None:
            if b.conf.transfer != transfer:
                return  # it ended on its own meanwhile (see rules.Builder.transfer_party_gone)
            b.put_conf(transfer=None)
            event_type = ev.TransferCompleted if complete else ev.TransferCanceled
            b.emit(
                event_type(
                    **b.call_args(b.conf.call(transfer.by_call_id), b.now),  # type: ignore[arg-type]
                    target_call_id=transfer.to_call_id,
                )
            )

        self._change(conference_id, finished)
        if leaving.is_live:
            self.hangup(leaving.id)

    def complete_transfer(self, conference_id: str) -> None:
        """Finish a warm transfer: the transferor leaves, the held parties resume."""
        self._finish_transfer(conference_id, complete=True)

    def cancel_transfer(self, conference_id: str) -> None:
        """Abandon a warm transfer: the target is hung up, the held parties resume."""
        self._finish_transfer(conference_id, complete=False)


def _leg(conf: Conference, call_id: str | None, provider_call_id: str | None) -> Call | None:
    if call_id:
        try:
            return conf.call(call_id)
        except NotFound:
            return None
    if provider_call_id:
        return conf.call_by_provider_id(provider_call_id)
    return None


def _many(value: Any) -> list[Any]:
    if isinstance(value, str | Endpoint):
        return [value]
    items = list(value)
    if not items:
        raise InvalidEndpoint("", "nobody to call: give at least one endpoint")
    return items


__all__ = ["Applied", "Switchboard"]
