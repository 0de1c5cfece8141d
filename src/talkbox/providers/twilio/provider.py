"""The Twilio adapter: REST call control through ``twilio.rest.Client``, browser tokens through
``AccessToken`` + ``VoiceGrant``.

How a room maps onto Twilio: talkbox's conference id (``conf_...``) is the Twilio conference's
FriendlyName, and talkbox's call id (``call_...``) travels in every callback URL we hand Twilio
(``?call=...``) and as the participant ``Label``, so that webhooks name the leg in our terms as
well as by CallSid. The first leg is placed with ``calls.create`` and joins the room through the
voice webhook's TwiML; every later leg is ``participants.create`` on the FriendlyName, which
Twilio accepts in place of the ConferenceSid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from twilio.http.http_client import TwilioHttpClient
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.rest import Client

from talkbox.config import DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, Settings, TwilioSettings
from talkbox.errors import ConfigError, ProviderError
from talkbox.model import Call, CallStatus, Conference, Endpoint, EndReason
from talkbox.providers.base import (
    CallReport,
    Credentials,
    LiveCall,
    LiveConference,
    LiveParticipant,
    LiveView,
    Provider,
)
from talkbox.providers.twilio.errors import PROVIDER, RetryPolicy
from talkbox.providers.twilio.reports import CALL_STATUSES, is_number

log = logging.getLogger("talkbox.providers.twilio")

#: Call progress we subscribe to for every leg we place.
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
#: Room events we subscribe to (``speaker`` and ``announcement`` are not tracked).
CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify")
#: Twilio's own default hold music, used unless ``hold_url`` says otherwise.
DEFAULT_HOLD_URL = "https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
#: Statuses ``live()`` lists; Twilio filters calls by one status per request.
LIVE_STATUSES = ("queued", "ringing", "in-progress")


@dataclass(frozen=True)
class WebhookUrls:
    """Where Twilio reaches our webhooks: one definition shared by the provider (which puts
    the URLs in its requests) and the blueprint (which serves and verifies them)."""

    public_url: str
    prefix: str = "/twilio"
    voice_route: str = "/voice"
    call_status_route: str = "/call-status"
    conference_status_route: str = "/conference-status"

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        prefix = "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""
        object.__setattr__(self, "prefix", prefix)

    def _url(self, route: str, **query: str) -> str:
        base = f"{self.public_url}{self.prefix}{route}"
        return f"{base}?{urlencode(query)}" if query else base

    def voice(self, conference_id: str | None = None, call_id: str | None = None) -> str:
        query = {"conference": conference_id, "call": call_id}
        return self._url(self.voice_route, **{k: v for k, v in query.items() if v})

    def call_status(self, call_id: str | None = None) -> str:
        return self._url(self.call_status_route, **({"call": call_id} if call_id else {}))

    def conference_status(self, conference_id: str | None = None) -> str:
        query = {"conference": conference_id} if conference_id else {}
        return self._url(self.conference_status_route, **query)


class TwilioProvider(Provider):
    """Talkbox's :class:`~talkbox.providers.base.Provider` on Twilio Programmable Voice."""

    name = "twilio"

    def __init__(
        self,
        settings: TwilioSettings,
        urls: WebhookUrls,
        *,
        client: Client | None = None,
        timeout: float = 10.0,
        ring_timeout: int = 30,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        hold_url: str = DEFAULT_HOLD_URL,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.urls = urls
        self.ring_timeout = ring_timeout
        self.token_ttl = _check_ttl(token_ttl)
        self.hold_url = hold_url
        self.retry = retry or RetryPolicy()
        self.clock = clock
        if client is None:
            # No timeout is the twilio package's default: a hung connection would hold a worker
            # thread for ever. Retries are ours (RetryPolicy), not the HTTP adapter's, so that
            # a create is never repeated behind our back.
            http = TwilioHttpClient(timeout=timeout)
            if settings.api_key and settings.api_secret:
                client = Client(
                    settings.api_key, settings.api_secret, settings.account_sid, http_client=http
                )
            else:
                client = Client(settings.account_sid, settings.auth_token, http_client=http)
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> TwilioProvider:
        """Build from ``TWILIO_*`` and ``TALKBOX_PUBLIC_URL`` settings."""
        if settings.twilio is None:
            raise ConfigError("the twilio provider needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not settings.public_url:
            raise ConfigError("the twilio provider needs TALKBOX_PUBLIC_URL for its webhooks")
        options.setdefault("token_ttl", settings.token_ttl)
        urls = options.pop("urls", None) or WebhookUrls(settings.public_url)
        return cls(settings.twilio, urls, **options)

    # -- helpers -----------------------------------------------------------------------------
    def _caller_id(self, conference: Conference, call: Call) -> str:
        """The ``From`` of a leg we dial. A telephone number there must be one of ours (a Twilio
        number or a verified caller id): the number the room came in on, else
        ``TWILIO_CALLER_ID``. A browser may be shown a client identity, so it sees who calls
        when that is another browser."""
        ours = conference.tag("twilio_number") or self.settings.caller_id
        if call.endpoint.is_phone and not ours:
            raise ConfigError(
                "TWILIO_CALLER_ID is not set: calling a telephone needs one of your Twilio "
                "numbers (or a verified caller id) as the caller id"
            )
        other = next(
            (
                c.endpoint
                for c in conference.calls
                if c.id != call.id and c.endpoint != call.endpoint
            ),
            None,
        )
        if call.endpoint.is_client and other is not None and other.is_client:
            return str(other)
        return ours or "client:talkbox"

    def _conference_sid(self, conference: Conference, action: str) -> str:
        if conference.provider_id is None:
            raise ProviderError(
                f"cannot {action}: Twilio has not reported the room {conference.id} yet",
                provider=PROVIDER,
            )
        return conference.provider_id

    @staticmethod
    def _call_sid(call: Call) -> str:
        if call.provider_id is None:
            raise ProviderError(f"call {call.id} has no Twilio CallSid yet", provider=PROVIDER)
        return call.provider_id

    # -- commands ------------------------------------------------------------------------------
    def answer_options(self, conference: Conference, call: Call) -> dict[str, Any]:
        """How the first leg finds its room once answered, and where its progress is sent:
        our voice webhook and status callbacks (the CLI's direct mode gives TwiML inline)."""
        return {
            "url": self.urls.voice(conference.id, call.id),
            "method": "POST",
            "status_callback": self.urls.call_status(call.id),
            "status_callback_method": "POST",
            "status_callback_event": list(CALL_EVENTS),
        }

    def callback_options(self, conference: Conference, call: Call) -> dict[str, Any]:
        """The status callbacks of a participant leg and of its room."""
        return {
            "status_callback": self.urls.call_status(call.id),
            "status_callback_method": "POST",
            "status_callback_event": list(CALL_EVENTS),
            "conference_status_callback": self.urls.conference_status(conference.id),
            "conference_status_callback_method": "POST",
            "conference_status_callback_event": list(CONFERENCE_EVENTS),
        }

    def place_call(self, conference: Conference, call: Call) -> str:
        from_ = self._caller_id(conference, call)
        answer = self.answer_options(conference, call)
        created = self.retry.run(
            "calls.create",
            lambda: self.client.calls.create(
                to=str(call.endpoint), from_=from_, timeout=self.ring_timeout, **answer
            ),
            repeatable=False,
        )
        return str(created.sid)

    def add_participant(self, conference: Conference, call: Call) -> str:
        from_ = self._caller_id(conference, call)
        callbacks = self.callback_options(conference, call)
        created = self.retry.run(
            "participants.create",
            lambda: self.client.conferences(conference.id).participants.create(
                from_=from_,
                to=str(call.endpoint),
                label=call.id,
                timeout=self.ring_timeout,
                beep="false",
                early_media=True,
                start_conference_on_enter=True,
                end_conference_on_exit=False,
                **callbacks,
            ),
            repeatable=False,
        )
        return str(created.call_sid)

    def hangup(self, call: Call) -> None:
        sid = self._call_sid(call)
        # ``canceled`` stops a leg that has not been answered and cannot cut off one that
        # has; ``completed`` hangs up whatever the leg is doing.
        ringing = call.status in (CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING)
        status = "canceled" if ringing else "completed"
        self.retry.run(
            f"calls({sid}).update(status={status})",
            lambda: self.client.calls(sid).update(status=status),
            repeatable=True,
        )

    def farewell(self, call: Call, reason: EndReason) -> None:
        """Redirect the leg to a short spoken reason and a hang-up (``calls(sid).update`` with
        inline TwiML) rather than cutting a caller off in silence."""
        from talkbox.providers.twilio.twiml import FAREWELLS, goodbye

        message = FAREWELLS.get(reason.value)
        if message is None or call.status is not CallStatus.IN_PROGRESS:
            self.hangup(call)
            return
        sid = self._call_sid(call)
        self.retry.run(
            f"calls({sid}).update(twiml=farewell)",
            lambda: self.client.calls(sid).update(twiml=goodbye(message)),
            repeatable=True,
        )

    def remove_participant(self, conference: Conference, call: Call) -> None:
        room, sid = self._conference_sid(conference, "remove a participant"), self._call_sid(call)
        self.retry.run(
            f"participants({sid}).delete",
            lambda: self.client.conferences(room).participants(sid).delete(),
            repeatable=True,
        )

    def set_muted(self, conference: Conference, call: Call, muted: bool) -> None:
        room, sid = self._conference_sid(conference, "mute"), self._call_sid(call)
        self.retry.run(
            f"participants({sid}).update(muted={muted})",
            lambda: self.client.conferences(room).participants(sid).update(muted=muted),
            repeatable=True,
        )

    def set_on_hold(self, conference: Conference, call: Call, on_hold: bool) -> None:
        room, sid = self._conference_sid(conference, "hold"), self._call_sid(call)
        options: dict[str, Any] = {"hold": on_hold}
        if on_hold:
            options.update(hold_url=self.hold_url, hold_method="GET")
        self.retry.run(
            f"participants({sid}).update(hold={on_hold})",
            lambda: self.client.conferences(room).participants(sid).update(**options),
            repeatable=True,
        )

    def end_conference(self, conference: Conference) -> None:
        if conference.provider_id is None:
            # Twilio has no room yet (nobody joined): ending it means stopping its legs.
            for call in conference.live_calls():
                if call.provider_id is not None:
                    self.hangup(call)
            return
        room = conference.provider_id
        self.retry.run(
            f"conferences({room}).update(status=completed)",
            lambda: self.client.conferences(room).update(status="completed"),
            repeatable=True,
        )

    # -- credentials -------------------------------------------------------------------------
    def credentials(self, identity: str, ttl: int | None = None) -> Credentials:
        """A Voice SDK access token for ``identity`` (already authenticated by the caller):
        it may place calls through the TwiML App and receive calls to ``client:identity``."""
        identity = Endpoint.client(identity).value  # the Voice SDK's identity rule
        ttl = _check_ttl(self.token_ttl if ttl is None else ttl)
        s = self.settings
        missing = [
            name
            for name, value in (
                ("TWILIO_API_KEY", s.api_key),
                ("TWILIO_API_SECRET", s.api_secret),
                ("TWILIO_TWIML_APP_SID", s.twiml_app_sid),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"browser tokens need {', '.join(missing)} (see 'Using Twilio')")
        now = int(self.clock())
        token = AccessToken(
            s.account_sid,
            s.api_key,
            s.api_secret,
            identity=identity,
            nbf=now,
            valid_until=now + ttl,
            ttl=ttl,
        )
        token.add_grant(VoiceGrant(outgoing_application_sid=s.twiml_app_sid, incoming_allow=True))
        jwt = token.to_jwt()
        return Credentials(
            provider=PROVIDER,
            identity=identity,
            token=jwt.decode() if isinstance(jwt, bytes) else str(jwt),
            expires_at=float(now + ttl),
        )

    # -- recovery ----------------------------------------------------------------------------
    def live(self) -> LiveView:
        calls: list[LiveCall] = []
        for status in LIVE_STATUSES:
            listed: Sequence[Any] = self.retry.run(
                f"calls.list(status={status})",
                lambda status=status: self.client.calls.list(status=status),  # type: ignore[misc]
                repeatable=True,
            )
            calls.extend(
                LiveCall(
                    provider_call_id=str(c.sid),
                    status=CALL_STATUSES.get(str(c.status), CallStatus.INITIATED),
                    to=str(c.to or ""),
                    from_=str(getattr(c, "_from", None) or ""),
                    # inbound, outbound-api (calls.create) or outbound-dial (participants)
                    direction="inbound" if str(c.direction) == "inbound" else "outbound",
                )
                for c in listed
            )
        conferences: list[LiveConference] = []
        rooms: Sequence[Any] = self.retry.run(
            "conferences.list(status=in-progress)",
            lambda: self.client.conferences.list(status="in-progress"),
            repeatable=True,
        )
        in_room: dict[str, str] = {}
        for room in rooms:
            people: Sequence[Any] = self.retry.run(
                f"conferences({room.sid}).participants.list",
                lambda room=room: self.client.conferences(room.sid).participants.list(),  # type: ignore[misc]
                repeatable=True,
            )
            conferences.append(
                LiveConference(
                    provider_conference_id=str(room.sid),
                    name=str(room.friendly_name),
                    participants=tuple(
                        LiveParticipant(
                            provider_call_id=str(p.call_sid),
                            muted=bool(p.muted),
                            on_hold=bool(p.hold),
                        )
                        for p in people
                    ),
                )
            )
            in_room.update({str(p.call_sid): str(room.sid) for p in people})
        calls = [replace(c, provider_conference_id=in_room.get(c.provider_call_id)) for c in calls]
        return LiveView(calls=tuple(calls), conferences=tuple(conferences))

    def final_report(self, provider_call_id: str) -> CallReport | None:
        """How a leg that is no longer live ended, read from Twilio's call record (its
        status, ``duration`` and ``end_time``); ``None`` if Twilio cannot tell us now."""
        try:
            record: Any = self.retry.run(
                f"calls({provider_call_id}).fetch",
                lambda: self.client.calls(provider_call_id).fetch(),
                repeatable=True,
            )
        except ProviderError as exc:
            log.warning("could not fetch the final state of %s: %s", provider_call_id, exc)
            return None
        status = CALL_STATUSES.get(str(record.status))
        if status is None or not status.is_terminal:
            return None
        ended = getattr(record, "end_time", None)
        duration = str(record.duration) if record.duration is not None else ""
        return CallReport(
            status=status,
            timestamp=ended.timestamp() if isinstance(ended, datetime) else None,
            provider_call_id=provider_call_id,
            duration=float(duration) if is_number(duration) else None,
        )


def _check_ttl(ttl: int) -> int:
    if not 60 <= ttl <= MAX_TOKEN_TTL:
        raise ConfigError(f"token TTL {ttl}s must be between 60 and {MAX_TOKEN_TTL} seconds")
    return ttl
