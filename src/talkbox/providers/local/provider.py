"""The embedded provider: browsers are the telephones, the server is the exchange.

Nothing here touches audio. Browsers register as *devices* of a user through a
:class:`DeviceHub` (the web layer's event streams implement it). When the switchboard places a
leg to ``client:bob``, this provider invents a leg id, sends an ``invite`` to every device of
bob and reports what the devices then do, so the state machine follows what really happens:

=========================  ============================================================
device or timer            report
=========================  ============================================================
a device acknowledges      ``ringing``
a device accepts           ``in-progress`` and participant ``joined`` (others stop ringing)
a device rejects           ``busy`` with reason ``rejected``
nobody answers in time     ``no-answer``
hang-up while ringing      ``canceled``
hang-up once answered      participant ``left`` and ``completed``
device gone (grace over)   as a hang-up of every leg the device holds
=========================  ============================================================

Media goes browser to browser (WebRTC, a mesh per room): the provider only relays offers,
answers and ICE candidates between the devices holding the legs of one room, and when the
server is reachable on loopback only it drops every non-loopback candidate, so that test and
quick-start traffic never leaves the machine.

Reports go to a sink (the app wires :meth:`talkbox.switchboard.Switchboard.apply`) from one
worker thread, in the order they were made: never from inside a switchboard command, whose
provider calls must not re-enter it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from talkbox.errors import Conflict, Forbidden, NotFound, ProviderError
from talkbox.ids import new_id
from talkbox.model import Call, CallStatus, Conference, EndReason
from talkbox.providers.base import (
    CallReport,
    Credentials,
    LiveCall,
    LiveConference,
    LiveParticipant,
    LiveView,
    ParticipantChange,
    ParticipantReport,
    Provider,
    Report,
)
from talkbox.providers.local.book import LegBook
from talkbox.providers.local.devices import (
    RELAYED,
    DeviceHub,
    Leg,
    LegState,
    Message,
    Scheduler,
    Timer,
    is_loopback_candidate,
    thread_timer,
)
from talkbox.store.base import Store

log = logging.getLogger("talkbox.providers.local")

#: The most legs one room may hold at once (ringing or connected). Media is a full mesh: each
#: browser encodes its microphone once per other person and decodes everyone else, so the
#: cost grows with the square of the room; beyond six the browsers, not the server, give out.
MESH_LIMIT = 6

#: DTMF a device may send: digits, ``*``, ``#``, ``A``-``D`` and ``,`` (a two-second pause).
DTMF_RE = re.compile(r"[0-9A-D*#,]{1,32}")


def endpoint_of(identity: str) -> str:
    """The endpoint a device identity stands for: a user's browser (``client:alice``) or a
    simulated telephone, whose identity is its E.164 number."""
    return identity if identity.startswith("+") else f"client:{identity}"


class LocalProvider(Provider):
    """Browser-to-browser calls with no account and no internet. Registered as ``local``."""

    name: ClassVar[str] = "local"

    def __init__(
        self,
        hub: DeviceHub | None = None,
        *,
        ring_timeout: float = 30.0,
        grace: float = 5.0,
        loopback_only: bool = False,
        schedule: Scheduler = thread_timer,
        clock: Callable[[], float] = time.time,
        sweep_every: float | None = 2.0,
    ) -> None:
        self.hub = hub
        self.ring_timeout = ring_timeout
        self.grace = grace
        self.loopback_only = loopback_only
        self.sweep_every = sweep_every
        self._schedule = schedule
        self._clock = clock
        self._book = LegBook()
        self._gone: dict[tuple[str, str], Timer] = {}
        self._sink: Callable[[Report], object] | None = None
        self._reports: queue.Queue[Report | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._sweeper: Timer | None = None
        self._sweep_lock = threading.Lock()
        self._closed = False

    # -- wiring ------------------------------------------------------------------------------
    def connect(
        self, hub: DeviceHub, sink: Callable[[Report], object], store: Store | None = None
    ) -> None:
        """Attach the device hub and the report sink (usually ``Switchboard.apply``).

        With a ``store``, the legs are kept there: after a restart the legs found in it are
        taken up again (browsers reconnect within the grace period and get their calls back),
        and processes sharing the store share the legs.
        """
        self.hub = hub
        self._sink = sink
        if store is not None:
            with self._book.transaction():
                restored = self._book.attach(store)
                now = self._clock()
                for leg in restored:
                    leg.away_since = None  # a fresh grace period from this start on
                    if leg.state in (LegState.INVITING, LegState.RINGING):
                        left = max(0.0, (leg.ring_deadline or now) - now)
                        leg.timer = self._schedule(left, self._ring_timer(leg.id))
            if restored:
                log.info("took up %d live legs from the store", len(restored))
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._deliver, name="talkbox-local-reports", daemon=True
            )
            self._worker.start()
        if self._sweeper is None and self.sweep_every is not None:
            self._sweeper = self._schedule(self.sweep_every, self._sweep_tick)

    @property
    def persistent(self) -> bool:
        """Whether the legs are kept in a store (so that this provider's live view survives a
        restart and a reconcile at start-up is safe)."""
        return self._book.store is not None

    def _deliver(self) -> None:
        while True:
            report = self._reports.get()
            try:
                if report is None:
                    return
                if self._sink is not None:
                    self._sink(report)
            except Exception:
                log.exception("applying %s failed", report)
            finally:
                self._reports.task_done()

    def drain(self) -> None:
        """Wait until every report made so far was applied (tests, shutdown)."""
        if self._worker is not None:
            self._reports.join()

    def close(self) -> None:
        with self._sweep_lock:
            self._closed = True
            if self._sweeper is not None:
                self._sweeper.cancel()
        with self._book.transaction() as legs:
            for leg in legs.values():
                if leg.timer is not None:
                    leg.timer.cancel()
            for timer in self._gone.values():
                timer.cancel()
        if self._worker is not None:
            self._reports.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    def _report(self, report: Report) -> None:
        self._reports.put(report)

    def _call_report(self, leg: Leg, status: CallStatus, **kw: Any) -> None:
        self._report(
            CallReport(
                status=status,
                timestamp=self._clock(),
                call_id=leg.call_id,
                provider_call_id=leg.id,
                sequence=leg.next_seq(),
                **kw,
            )
        )

    def _member_report(self, leg: Leg, change: ParticipantChange) -> None:
        self._report(
            ParticipantReport(
                change=change,
                timestamp=self._clock(),
                conference_id=leg.conference_id,
                call_id=leg.call_id,
                provider_call_id=leg.id,
                sequence=leg.next_seq(),
                muted=leg.muted,
                on_hold=leg.on_hold,
            )
        )

    def _send(self, identity: str, message: Message, device_id: str | None = None) -> int:
        if self.hub is None:
            return 0
        return self.hub.send(identity, message, device_id)

    # -- the Provider port -------------------------------------------------------------------
    def place_call(self, conference: Conference, call: Call) -> str:
        return self._invite(conference, call)

    def add_participant(self, conference: Conference, call: Call) -> str:
        return self._invite(conference, call)

    def _invite(self, conference: Conference, call: Call) -> str:
        identity = call.endpoint.value
        devices = self.hub.devices(identity) if self.hub is not None else []
        if not call.endpoint.is_client and not devices:
            # A number reaches a page registered as that simulated telephone (``/phone``).
            raise ProviderError(
                f"the local provider reaches browsers and simulated telephones only; "
                f"no simulated telephone has registered {call.endpoint}",
                provider=self.name,
                code="unreachable",
                reason=EndReason.INVALID_NUMBER,
            )
        if not devices:
            raise ProviderError(
                f"{identity} is offline", provider=self.name, code="offline", reason=None
            )
        leg = Leg(
            id=new_id("leg"),
            identity=identity,
            conference_id=conference.id,
            call_id=call.id,
            caller=str(conference.owner),
        )
        with self._book.transaction():
            if len(self.room_legs(conference.id)) >= MESH_LIMIT:
                raise ProviderError(
                    f"a local room holds at most {MESH_LIMIT} people (a browser mesh)",
                    provider=self.name,
                    code="room-full",
                )
            self._book.add(leg)
            leg.rung = set(devices)
            leg.ring_deadline = self._clock() + self.ring_timeout
            leg.timer = self._schedule(self.ring_timeout, self._ring_timer(leg.id))
            origin = self._book.live_legs.get(conference.caller.provider_id or "")
            if origin is not None and origin.offer is not None:
                if len(conference.calls) == 2:
                    leg.offered_by = origin.id  # a two-party call from a browser that offered
                else:
                    # A third person is added while the first still rings: the caller's page
                    # will talk to two peers, so everyone offers as usual.
                    origin.drop_offer()
            for device in devices:
                self._send(identity, self._invitation(leg), device)
        return leg.id

    def _invitation(self, leg: Leg) -> dict[str, Any]:
        invite: dict[str, Any] = {
            "type": "invite",
            "leg": leg.id,
            "call_id": leg.call_id,
            "conference_id": leg.conference_id,
            "from": leg.caller,
        }
        origin = self._offer_of(leg)
        if origin is not None:
            invite["offer"] = {
                "from": origin.id,
                "sdp": origin.offer,
                "candidates": origin.offer_candidates,
            }
        return invite

    def _offer_of(self, leg: Leg) -> Leg | None:
        """The caller's leg whose offer ``leg``'s invite carries, while that offer stands."""
        origin = self._book.live_legs.get(leg.offered_by or "")
        return origin if origin is not None and origin.offer is not None else None

    def _allowed(self, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The candidates that may be passed on (loopback only, when so configured)."""
        if not self.loopback_only:
            return candidates
        return [c for c in candidates if is_loopback_candidate(str(c.get("candidate", "")))]

    def hangup(self, call: Call) -> None:
        with self._book.transaction():
            leg = self._leg_of(call)
            if leg is not None:
                self._end(leg, by_device=False)

    def remove_participant(self, conference: Conference, call: Call) -> None:
        self.hangup(call)

    def set_muted(self, conference: Conference, call: Call, muted: bool) -> None:
        self._set_flags(call, "mute", muted=muted)

    def set_on_hold(self, conference: Conference, call: Call, on_hold: bool) -> None:
        self._set_flags(call, "hold", on_hold=on_hold)

    def _set_flags(self, call: Call, command: str, **flags: bool) -> None:
        """The device does the muting (it owns the microphone); the leg's flags change once
        the device was told, and every device of the room learns them from the events."""
        with self._book.transaction():
            leg = self._leg_of(call)
            if leg is None or leg.state is not LegState.ANSWERED or leg.device_id is None:
                raise Conflict(f"call {call.id} is not connected to a device")
            delivered = self._send(
                leg.identity, {"type": command, "leg": leg.id, **flags}, leg.device_id
            )
            if not delivered:
                raise ProviderError(
                    f"the device holding call {call.id} is not connected",
                    provider=self.name,
                    code="device-gone",
                )
            leg.muted = flags.get("muted", leg.muted)
            leg.on_hold = flags.get("on_hold", leg.on_hold)
            if "on_hold" in flags:
                # Hold stops media both ways: the held device stops sending and playing, and
                # every other device stops sending to it.
                for peer in self._room(leg.conference_id):
                    if peer.id != leg.id:
                        self._send(
                            peer.identity,
                            {
                                "type": "peer-hold",
                                "leg": peer.id,
                                "from": leg.id,
                                "on_hold": leg.on_hold,
                            },
                            peer.device_id,
                        )
            self._member_report(leg, ParticipantChange.MODIFIED)

    def end_conference(self, conference: Conference) -> None:
        with self._book.transaction():
            for leg in [g for g in self._book.live() if g.conference_id == conference.id]:
                self._end(leg, by_device=False)

    def credentials(self, identity: str, ttl: int | None = None) -> Credentials:
        """Nothing to sign: a local device authenticates with the web session that opens its
        event stream, so the credentials only say where to register."""
        expires = self._clock() + (ttl or 3600)
        return Credentials(self.name, identity, "", expires, {"stream": "stream"})

    def live(self) -> LiveView:
        with self._book.transaction():
            legs = self._book.live()
            statuses = {
                LegState.INVITING: CallStatus.INITIATED,
                LegState.RINGING: CallStatus.RINGING,
                LegState.ANSWERED: CallStatus.IN_PROGRESS,
            }
            calls = tuple(
                LiveCall(
                    g.id, statuses[g.state], endpoint_of(g.identity), g.caller, g.conference_id
                )
                for g in legs
            )
            rooms: dict[str, list[LiveParticipant]] = {}
            for g in legs:
                if g.state is LegState.ANSWERED:
                    rooms.setdefault(g.conference_id, []).append(
                        LiveParticipant(g.id, g.muted, g.on_hold)
                    )
            conferences = tuple(LiveConference(k, k, tuple(v)) for k, v in rooms.items())
        return LiveView(calls, conferences)

    # -- browser-originated calls ------------------------------------------------------------
    def originate(
        self,
        identity: str,
        device_id: str,
        offer: str | None = None,
        candidates: list[dict[str, Any]] | None = None,
    ) -> str:
        """A device starts a call: its own leg exists (answered) before talkbox records it.

        The caller then records it with :meth:`Switchboard.incoming` (status ``in-progress``)
        and hands the room back with :meth:`attach`, which puts the leg in the room.
        """
        if self.hub is None or device_id not in self.hub.devices(identity):
            raise Conflict(f"device {device_id!r} is not connected; reload the page")
        leg = Leg(
            id=new_id("leg"),
            identity=identity,
            conference_id="",
            call_id="",
            caller=endpoint_of(identity),
            state=LegState.ANSWERED,
            device_id=device_id,
            offer=offer,
            offer_candidates=self._allowed(candidates or []),
        )
        with self._book.transaction():
            self._book.add(leg)
        return leg.id

    def discard(self, leg_id: str) -> None:
        """Forget an originated leg talkbox did not record (the command failed)."""
        with self._book.transaction():
            self._book.discard(leg_id)

    def attach(self, leg_id: str, conference_id: str, call_id: str) -> None:
        """Tie an originated leg to the room talkbox made for it and report it joined."""
        with self._book.transaction() as legs:
            leg = legs.get(leg_id)
            if leg is None or leg.state is LegState.ENDED:
                raise Conflict(f"leg {leg_id} ended before its call was recorded")
            leg.conference_id, leg.call_id = conference_id, call_id
            self._book.add(leg)
            self._member_report(leg, ParticipantChange.JOINED)

    # -- what devices do ---------------------------------------------------------------------
    def _device_leg(self, identity: str, call_id: str) -> Leg:
        leg = self._book.legs.get(self._book.by_call.get(call_id, ""))
        if leg is None:
            raise NotFound("call", call_id)
        if leg.identity != identity:
            raise Forbidden(f"call {call_id} is not yours")
        return leg

    def ringing(self, identity: str, device_id: str, call_id: str) -> None:
        with self._book.transaction():
            leg = self._device_leg(identity, call_id)
            if leg.state is LegState.INVITING and device_id in leg.rung:
                leg.state = LegState.RINGING
                self._call_report(leg, CallStatus.RINGING)

    def accept(
        self,
        identity: str,
        device_id: str,
        call_id: str,
        answer: str | None = None,
        candidates: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The first device to accept wins the leg; the others stop ringing. ``answer``
        answers the caller's offer that came with the invite, and is relayed to it."""
        with self._book.transaction():
            leg = self._device_leg(identity, call_id)
            if leg.state is LegState.ANSWERED and leg.device_id == device_id:
                return self._room_view(leg)  # a retried accept
            if leg.state not in (LegState.INVITING, LegState.RINGING):
                raise Conflict(f"call {call_id} can no longer be answered ({leg.state.value})")
            if device_id not in leg.rung:
                raise Conflict(f"call {call_id} was not offered to device {device_id!r}")
            self._cancel_timer(leg)
            leg.state, leg.device_id = LegState.ANSWERED, device_id
            for other in leg.rung - {device_id}:
                self._send(identity, {"type": "stop-ringing", "leg": leg.id}, other)
            self._call_report(leg, CallStatus.IN_PROGRESS)
            self._member_report(leg, ParticipantChange.JOINED)
            view = self._room_view(leg)
            origin = self._offer_of(leg)
            if origin is not None:
                origin.drop_offer()  # answered now, or superseded by this device's own offer
                if answer is not None and origin.state is LegState.ANSWERED:
                    message = {
                        "type": "answer",
                        "leg": origin.id,
                        "from": leg.id,
                        "sdp": answer,
                        "candidates": self._allowed(candidates or []),
                    }
                    self._send(origin.identity, message, origin.device_id)
                    view["answered"] = origin.id  # the device keeps that connection
            return view

    def reject(self, identity: str, device_id: str, call_id: str) -> None:
        with self._book.transaction():
            leg = self._device_leg(identity, call_id)
            if leg.state not in (LegState.INVITING, LegState.RINGING):
                raise Conflict(f"call {call_id} can no longer be rejected ({leg.state.value})")
            self._cancel_timer(leg)
            self._book.retire(leg)
            for other in leg.rung - {device_id}:
                self._send(identity, {"type": "stop-ringing", "leg": leg.id}, other)
            self._call_report(leg, CallStatus.BUSY, reason=EndReason.REJECTED)

    def relay(self, identity: str, device_id: str, message: Mapping[str, Any]) -> None:
        """Pass an offer, answer or ICE candidate from one leg's device to another leg's device
        in the same room; nothing else, and only between answered legs."""
        kind = message.get("type")
        if kind not in RELAYED:
            raise Conflict(f"cannot relay {kind!r}; expected one of {sorted(RELAYED)}")
        with self._book.transaction() as legs:
            mine = legs.get(str(message.get("leg")))
            peer = legs.get(str(message.get("to")))
            if mine is None or peer is None:
                raise NotFound("leg", str(message.get("leg") if mine is None else message["to"]))
            if mine.identity != identity or mine.device_id != device_id:
                raise Forbidden(f"leg {mine.id} is not held by this device")
            if peer.conference_id != mine.conference_id or peer.id == mine.id:
                raise Forbidden(f"leg {peer.id} is not in your room")
            if mine.state is not LegState.ANSWERED or peer.state is not LegState.ANSWERED:
                raise Conflict("both legs must be connected to exchange media")
            out: dict[str, Any] = {"type": kind, "leg": peer.id, "from": mine.id}
            if kind == "ice":
                candidate = message.get("candidate")
                if isinstance(candidate, Mapping):
                    line = str(candidate.get("candidate", ""))
                    if line and self.loopback_only and not is_loopback_candidate(line):
                        return  # the quick start and the tests stay on this machine
                out["candidate"] = candidate
            else:
                out["sdp"] = message.get("sdp")
            assert peer.device_id is not None
            self._send(peer.identity, out, peer.device_id)

    def digits(self, identity: str, device_id: str, call_id: str, digits: str) -> int:
        """Tell the other devices of the room which DTMF digits this leg sent.

        The tones themselves travel in the media as RTP telephone-events (``RTCDTMFSender``),
        but browsers do not report received telephone-events to pages, so the digits are also
        signalled for the receiving side to show. Returns how many devices were told.
        """
        if not DTMF_RE.fullmatch(digits):
            raise Conflict("digits must be 1 to 32 of 0-9, *, #, A-D or ','")
        with self._book.transaction():
            leg = self._device_leg(identity, call_id)
            if leg.state is not LegState.ANSWERED or leg.device_id != device_id:
                raise Conflict(f"call {call_id} is not connected to this device")
            told = 0
            for peer in self._room(leg.conference_id):
                if peer.id != leg.id:
                    told += self._send(
                        peer.identity,
                        {
                            "type": "dtmf",
                            "leg": peer.id,
                            "from": leg.id,
                            "identity": leg.identity,
                            "digits": digits,
                        },
                        peer.device_id,
                    )
            return told

    def room_legs(self, conference_id: str) -> list[Leg]:
        """The legs of a room that are ringing or connected (what counts against the mesh)."""
        return [g for g in self._book.live() if g.conference_id == conference_id]

    # -- presence ----------------------------------------------------------------------------
    def device_online(self, identity: str, device_id: str) -> None:
        """A device's stream opened: cancel its grace timer and tell it what it still holds
        (a reloaded page gets its calls back and renegotiates media)."""
        with self._book.transaction():
            timer = self._gone.pop((identity, device_id), None)
            if timer is not None:
                timer.cancel()
            for leg in self._book.live():
                if leg.identity != identity:
                    continue
                if leg.state is LegState.ANSWERED and leg.device_id == device_id:
                    leg.away_since = None
                    leg.drop_offer()  # a reloaded page lost the connection it offered with
                    self._send(identity, {"type": "resume", **self._room_view(leg)}, device_id)
                elif leg.state in (LegState.INVITING, LegState.RINGING):
                    leg.rung.add(device_id)  # a device that comes online mid-ring rings too
                    self._send(identity, self._invitation(leg), device_id)

    def device_offline(self, identity: str, device_id: str) -> None:
        """A device's stream closed: if it is not back within the grace period, it is gone."""
        with self._book.transaction():
            old = self._gone.pop((identity, device_id), None)
            if old is not None:
                old.cancel()
            self._gone[(identity, device_id)] = self._schedule(
                self.grace, lambda: self._device_gone(identity, device_id)
            )

    def _device_gone(self, identity: str, device_id: str) -> None:
        with self._book.transaction():
            self._gone.pop((identity, device_id), None)
            if self.hub is not None and device_id in self.hub.devices(identity):
                return
            for leg in self._book.live():
                if leg.identity != identity or leg.state is LegState.ENDED:
                    continue  # ended by an earlier leg of this loop
                if leg.state is LegState.ANSWERED and leg.device_id == device_id:
                    log.info("device %s of %s vanished: ending leg %s", device_id, identity, leg.id)
                    self._end(leg, by_device=True, status=CallStatus.FAILED)
                elif leg.state is not LegState.ANSWERED:
                    leg.rung.discard(device_id)
                    if not leg.rung:
                        self._cancel_timer(leg)
                        self._book.retire(leg)
                        self._call_report(leg, CallStatus.NO_ANSWER)

    def sweep(self) -> None:
        """Enforce what no process's timer may be left to enforce: rings past their deadline
        end with no-answer, and an answered leg whose device is connected nowhere ends after
        the grace period. The timers of the process that made a leg do both sooner; this
        covers a process that died (its timers with it) and a restart (legs taken up from the
        store whose browsers never come back)."""
        now = self._clock()
        present: dict[str, list[str]] = {}
        # One read of every process's devices rather than one per person, where the hub
        # offers it (SharedDeviceHub: a Redis round trip each).
        everyone = getattr(self.hub, "everyone", None)
        with self._book.transaction():
            if callable(everyone):
                for who, device in everyone():
                    present.setdefault(who, []).append(device)
            for leg in self._book.live():
                if leg.state is not LegState.ANSWERED:
                    if leg.ring_deadline is not None and now >= leg.ring_deadline:
                        self._no_answer(leg.id)
                    continue
                if leg.device_id is None or self.hub is None:
                    continue
                if not callable(everyone) and leg.identity not in present:
                    present[leg.identity] = self.hub.devices(leg.identity)
                if leg.device_id in present.get(leg.identity, ()):
                    leg.away_since = None
                elif leg.away_since is None:
                    leg.away_since = now
                elif now - leg.away_since >= self.grace:
                    log.info(
                        "device %s of %s is connected nowhere: ending leg %s",
                        leg.device_id,
                        leg.identity,
                        leg.id,
                    )
                    self._end(leg, by_device=True, status=CallStatus.FAILED)

    def _sweep_tick(self) -> None:
        if self._closed:
            return
        try:
            self.sweep()
        except Exception:  # a store outage: try again at the next tick
            log.exception("sweeping local legs failed")
        with self._sweep_lock:
            if not self._closed and self.sweep_every is not None:
                self._sweeper = self._schedule(self.sweep_every, self._sweep_tick)

    # -- internals ---------------------------------------------------------------------------
    def _leg_of(self, call: Call) -> Leg | None:
        leg_id = call.provider_id or self._book.by_call.get(call.id)
        return self._book.legs.get(leg_id) if leg_id else None

    def _cancel_timer(self, leg: Leg) -> None:
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None

    def _ring_timer(self, leg_id: str) -> Callable[[], None]:
        return lambda: self._no_answer(leg_id)

    def _no_answer(self, leg_id: str) -> None:
        with self._book.transaction() as legs:
            leg = legs.get(leg_id)
            if leg is None or leg.state not in (LegState.INVITING, LegState.RINGING):
                return
            leg.timer = None
            self._book.retire(leg)
            self._send(leg.identity, {"type": "stop-ringing", "leg": leg.id})
            self._call_report(leg, CallStatus.NO_ANSWER)

    def _end(self, leg: Leg, *, by_device: bool, status: CallStatus | None = None) -> None:
        """End a leg however it stands; the devices involved are told."""
        if leg.state is LegState.ENDED:
            return
        self._cancel_timer(leg)
        was = leg.state
        self._book.retire(leg)
        if was is LegState.ANSWERED:
            if not by_device and leg.device_id is not None:
                self._send(leg.identity, {"type": "hangup", "leg": leg.id}, leg.device_id)
            for peer in self._room(leg.conference_id):
                self._send(
                    peer.identity,
                    {"type": "peer-left", "leg": peer.id, "from": leg.id},
                    peer.device_id,
                )
            self._member_report(leg, ParticipantChange.LEFT)
            self._call_report(leg, status or CallStatus.COMPLETED)
        else:
            self._send(leg.identity, {"type": "stop-ringing", "leg": leg.id})
            self._call_report(leg, status or CallStatus.CANCELED)

    def _room(self, conference_id: str) -> list[Leg]:
        """The answered legs of a room (its media mesh)."""
        return [
            g
            for g in self._book.live_legs.values()
            if g.conference_id == conference_id and g.state is LegState.ANSWERED
        ]

    def _room_view(self, leg: Leg) -> dict[str, Any]:
        """What a device needs to set up media for its leg: who else is in the room."""
        peers = [
            {"leg": g.id, "identity": g.identity, "on_hold": g.on_hold}
            for g in self._room(leg.conference_id)
            if g.id != leg.id
        ]
        return {
            "leg": leg.id,
            "call_id": leg.call_id,
            "conference_id": leg.conference_id,
            "muted": leg.muted,
            "on_hold": leg.on_hold,
            "peers": peers,
        }
