"""The provider port: what a telephony provider must do for talkbox, and what it reports back.

The cut sits here so that the switchboard (the business rules) never knows which provider it
drives. Commands flow down through :class:`Provider`; what the provider observes (webhooks,
signalling messages) flows back up as provider-neutral reports (:class:`CallReport`,
:class:`ParticipantReport`, :class:`ConferenceReport`) that the adapter builds and hands to
:meth:`talkbox.switchboard.Switchboard.apply`.

Contract for adapters:

* Commands are requests, not state changes. ``hangup`` asks the provider to end a leg; the leg
  is ended in talkbox when the provider *reports* it ended. The provider is the truth.
* Reports may arrive late, twice, or out of order. Give them the provider's ``sequence``
  (increasing per leg, and per room for participant and room reports) and ``timestamp`` where
  the provider has them; the switchboard drops duplicates and stale reports.
* Identify the subject with talkbox's ids where the provider echoes them back (e.g. in a
  callback URL) and always with the provider's own ids; the switchboard resolves either, and
  parks a report about a leg it has not recorded yet (a webhook can beat the HTTP response that
  created the leg).
* Raise :class:`talkbox.errors.ProviderError` for every provider failure, with ``reason`` set
  when the failure decides how a leg ends (``EndReason.INVALID_NUMBER``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from talkbox.model import Call, CallStatus, Conference, EndReason


@dataclass(frozen=True, slots=True)
class CallReport:
    """The provider observed a leg's status change."""

    status: CallStatus
    timestamp: float | None = None
    call_id: str | None = None  # talkbox's id, when the provider echoes it back
    provider_call_id: str | None = None
    sequence: int | None = None
    #: Talk time the provider measured, in seconds (Twilio's ``CallDuration``).
    duration: float | None = None
    #: A refined end reason the provider knows (``rejected``), else derived from ``status``.
    reason: EndReason | None = None
    raw: Mapping[str, str] = field(default_factory=dict)


class ParticipantChange(StrEnum):
    JOINED = "joined"
    LEFT = "left"
    MUTED = "muted"
    UNMUTED = "unmuted"
    HELD = "held"
    RESUMED = "resumed"
    MODIFIED = "modified"  # flags changed, see ``muted``/``on_hold``


@dataclass(frozen=True, slots=True)
class ParticipantReport:
    """The provider observed a leg enter, leave or change flags in a room.

    ``muted`` and ``on_hold`` are the participant's flags after the change, when the provider
    sends them (Twilio does on every participant event): the newest report's flags win.
    """

    change: ParticipantChange
    timestamp: float | None = None
    conference_id: str | None = None
    provider_conference_id: str | None = None
    call_id: str | None = None
    provider_call_id: str | None = None
    sequence: int | None = None
    muted: bool | None = None
    on_hold: bool | None = None
    raw: Mapping[str, str] = field(default_factory=dict)


class ConferenceChange(StrEnum):
    STARTED = "started"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class ConferenceReport:
    """The provider observed a room start or end."""

    change: ConferenceChange
    timestamp: float | None = None
    conference_id: str | None = None
    provider_conference_id: str | None = None
    sequence: int | None = None
    #: The provider's own words for why it ended (Twilio's ``ReasonConferenceEnded``).
    provider_reason: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict)


Report = CallReport | ParticipantReport | ConferenceReport


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a browser needs to register with the provider as ``identity``."""

    provider: str
    identity: str
    token: str
    expires_at: float
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LiveCall:
    provider_call_id: str
    status: CallStatus
    to: str
    from_: str
    provider_conference_id: str | None = None
    #: ``inbound`` for legs that called in (the endpoint is ``from_``), else ``outbound``.
    direction: str = "outbound"


@dataclass(frozen=True, slots=True)
class LiveParticipant:
    provider_call_id: str
    muted: bool = False
    on_hold: bool = False


@dataclass(frozen=True, slots=True)
class LiveConference:
    provider_conference_id: str
    name: str  # talkbox's conference id, as given to the provider
    participants: tuple[LiveParticipant, ...] = ()


@dataclass(frozen=True, slots=True)
class LiveView:
    """What the provider says is live right now, for reconciling the store after a restart."""

    calls: tuple[LiveCall, ...] = ()
    conferences: tuple[LiveConference, ...] = ()


class Provider(ABC):
    """A telephony provider talkbox can drive. Subclasses register in the ``talkbox.providers``
    entry-point group; the switchboard calls these methods outside its locks, possibly from
    several threads at once."""

    #: The entry-point name (``twilio``, ``local`` ...).
    name: ClassVar[str] = "provider"

    @abstractmethod
    def place_call(self, conference: Conference, call: Call) -> str:
        """Dial ``call.endpoint`` as the first leg of ``conference``; when answered, the leg
        joins the room. Returns the provider's id for the leg.

        Must not be retried blindly by the adapter: a repeated request can ring someone twice.
        """

    @abstractmethod
    def add_participant(self, conference: Conference, call: Call) -> str:
        """Dial ``call.endpoint`` into the existing ``conference``. Returns the leg's id."""

    @abstractmethod
    def hangup(self, call: Call) -> None:
        """End the leg: cancel it while it rings, hang it up once answered."""

    @abstractmethod
    def remove_participant(self, conference: Conference, call: Call) -> None:
        """Take the leg out of the room (a kick); the leg then ends."""

    @abstractmethod
    def set_muted(self, conference: Conference, call: Call, muted: bool) -> None:
        """Stop (or restore) the room hearing this participant."""

    @abstractmethod
    def set_on_hold(self, conference: Conference, call: Call, on_hold: bool) -> None:
        """Put the participant on hold (hears nothing of the room, is not heard) or resume."""

    @abstractmethod
    def end_conference(self, conference: Conference) -> None:
        """End the room and every leg still in it."""

    @abstractmethod
    def credentials(self, identity: str, ttl: int | None = None) -> Credentials:
        """Browser credentials for ``identity`` (already authenticated by the caller)."""

    @abstractmethod
    def live(self) -> LiveView:
        """Every leg and room the provider considers live, for recovery."""

    def farewell(self, call: Call, reason: EndReason) -> None:
        """End the leg of someone left alone in a room that never connected (nobody answered,
        busy, invalid number), telling them why where the provider can speak to them. The
        default just hangs up."""
        self.hangup(call)

    def final_report(self, provider_call_id: str) -> CallReport | None:
        """How a leg that is no longer live ended (status, duration), for reconciling after a
        restart; ``None`` when the provider cannot tell. Providers that can look a finished
        leg up (Twilio) should override this so that recovery records the right reason."""
        return None
