"""A stand-in for Twilio in tests: its REST API behind ``responses``, with bodies shaped like
Twilio's API reference, and builders for the webhooks Twilio would send (signed with the
``twilio`` package's own RequestValidator)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import responses
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from talkbox.config import Settings, TwilioSettings
from talkbox.providers.twilio import RetryPolicy, TwilioProvider, WebhookUrls

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_KEY = "SK" + "fedcba9876543210" * 2
API_SECRET = "s3cr3t-api-secret-for-tests-only"
APP_SID = "AP" + "00112233445566778899aabbccddeeff"
CALLER_ID = "+14155552671"
OUR_NUMBER = "+14155550100"
PUBLIC_URL = "https://talkbox.example.com"
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
_ROOT = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
DATE = "Tue, 25 Nov 2026 17:00:00 +0000"


def call_sid(n: int) -> str:
    """A leg Twilio created for a REST request (``CA`` + 32 hex digits)."""
    return f"CA{n:032x}"


def inbound_sid(n: int) -> str:
    """A leg that called in (browser or telephone); disjoint from :func:`call_sid`."""
    return f"CA{0xF << 124 | n:032x}"


def conference_sid(name: str) -> str:
    """The ConferenceSid Twilio gives the room named ``name`` (stable per name)."""
    return "CF" + hashlib.md5(name.encode()).hexdigest()


def settings(**twilio: Any) -> Settings:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "twiml_app_sid": APP_SID,
        "caller_id": CALLER_ID,
    }
    values.update(twilio)
    return Settings(provider="twilio", public_url=PUBLIC_URL, twilio=TwilioSettings(**values))


def provider(sleeps: list[float] | None = None, **options: Any) -> TwilioProvider:
    slept = sleeps if sleeps is not None else []
    options.setdefault("retry", RetryPolicy(sleep=slept.append))
    return TwilioProvider.from_settings(settings(), urls=WebhookUrls(PUBLIC_URL), **options)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def invalid_number(number: str) -> tuple[int, dict[str, Any]]:
    return 400, error_body(400, 21211, f"The 'To' number {number} is not a valid phone number.")


def too_many_requests() -> tuple[int, dict[str, Any]]:
    return 429, error_body(429, 20429, "Too Many Requests")


def server_error(status: int = 500) -> tuple[int, dict[str, Any]]:
    """Twilio's own failure (500 Internal Server Error, 503 Service Unavailable ...)."""
    return status, error_body(status, 20000 + status, f"HTTP {status} from Twilio")


def raising(exc: Exception) -> Callable[[], Reply]:
    """A reply that never comes: the HTTP layer raises ``exc`` (a timeout, a dropped
    connection) instead of returning a response."""

    def reply() -> Reply:
        raise exc

    return reply


@dataclass
class Sent:
    """One request our code sent to the fake API."""

    method: str
    path: str  # after /2010-04-01/Accounts/{AccountSid}
    form: dict[str, list[str]]
    query: dict[str, list[str]]

    def one(self, name: str) -> str:
        (value,) = self.form[name]
        return value


def _call_body(sid: str, to: str, from_: str, status: str, direction: str) -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT_SID,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": DATE,
        "date_updated": DATE,
        "direction": direction,
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": from_,
        "from_formatted": from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": status,
        "subresource_uris": {
            "notifications": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}/Notifications.json",
            "recordings": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}/Recordings.json",
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
    }


def _participant_body(
    conf_sid: str, sid: str, label: str | None, status: str = "queued", **flags: bool
) -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT_SID,
        "call_sid": sid,
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": conf_sid,
        "date_created": DATE,
        "date_updated": DATE,
        "end_conference_on_exit": False,
        "hold": flags.get("hold", False),
        "label": label,
        "muted": flags.get("muted", False),
        "start_conference_on_enter": True,
        "status": status,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Conferences/{conf_sid}/Participants/{sid}.json",
    }


def _conference_body(sid: str, name: str, status: str = "in-progress") -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "call_sid_ending_conference": None,
        "date_created": DATE,
        "date_updated": DATE,
        "friendly_name": name,
        "reason_conference_ended": None,
        "region": "us1",
        "sid": sid,
        "status": status,
        "subresource_uris": {
            "participants": f"{_ROOT}/Conferences/{sid}/Participants.json",
            "recordings": f"{_ROOT}/Conferences/{sid}/Recordings.json",
        },
        "uri": f"{_ROOT}/Conferences/{sid}.json",
    }


def _page(key: str, items: list[dict[str, Any]], path: str) -> dict[str, Any]:
    uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}{path}"
    return {
        key: items,
        "end": max(len(items) - 1, 0),
        "first_page_uri": f"{uri}?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{uri}?PageSize=50&Page=0",
    }


Reply = tuple[int, dict[str, Any] | None]


@dataclass
class FakeTwilio:
    """Twilio's REST API for one account: creates legs with sequential SIDs, records every
    request, and answers a queued failure (``fail``) instead of the next matching request."""

    sent: list[Sent] = field(default_factory=list)
    failures: list[tuple[str, re.Pattern[str], Callable[[], Reply] | Reply]] = field(
        default_factory=list
    )
    live_calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    live_rooms: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_sid(self) -> str:
        peek, self._ids = itertools.tee(self._ids)
        return call_sid(next(peek))

    def fail(self, method: str, path: str, reply: Callable[[], Reply] | Reply) -> None:
        """Answer the next ``method`` request whose path matches ``path`` (a regex) with
        ``reply`` (status, JSON body) or raise what ``reply()`` raises."""
        self.failures.append((method, re.compile(path), reply))

    def requests(self, method: str | None = None, path: str | None = None) -> list[Sent]:
        return [
            s
            for s in self.sent
            if (method is None or s.method == method)
            and (path is None or re.fullmatch(path, s.path))
        ]

    @contextmanager
    def running(self) -> Iterator[FakeTwilio]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_callback(
                responses.POST, re.compile(re.escape(API) + r"/.*"), callback=self._handle
            )
            mock.add_callback(
                responses.GET, re.compile(re.escape(API) + r"/.*"), callback=self._handle
            )
            mock.add_callback(
                responses.DELETE, re.compile(re.escape(API) + r"/.*"), callback=self._handle
            )
            yield self

    def _handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url)
        path = url.path.removeprefix(urlsplit(API).path)
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        sent = Sent(request.method, path, parse_qs(body), parse_qs(url.query))
        self.sent.append(sent)
        for i, (method, pattern, reply) in enumerate(self.failures):
            if method == request.method and pattern.fullmatch(path):
                del self.failures[i]
                status, payload = reply() if callable(reply) else reply
                return status, {"Content-Type": "application/json"}, json.dumps(payload)
        status, payload = self._answer(sent)
        if payload is None:
            return status, {}, ""
        return status, {"Content-Type": "application/json"}, json.dumps(payload)

    def _answer(self, sent: Sent) -> Reply:
        path, form = sent.path, sent.form
        if sent.method == "POST" and path == "/Calls.json":
            sid = call_sid(next(self._ids))
            body = _call_body(sid, sent.one("To"), sent.one("From"), "queued", "outbound-api")
            return 201, body
        if match := re.fullmatch(r"/Calls/(CA\w+)\.json", path):
            if sent.method == "GET":
                return 200, _call_body(match[1], CALLER_ID, CALLER_ID, "in-progress", "inbound")
            status = form.get("Status", ["in-progress"])[0]
            return 200, _call_body(match[1], "+14155552672", CALLER_ID, status, "outbound-api")
        if sent.method == "GET" and path == "/Calls.json":
            status = sent.query.get("Status", [""])[0]
            return 200, _page("calls", self.live_calls.get(status, []), path)
        if match := re.fullmatch(r"/Conferences/([^/]+)/Participants\.json", path):
            room = match[1]
            if sent.method == "GET":
                people = next((p for c, p in self.live_rooms if c["sid"] == room), [])
                return 200, _page("participants", people, path)
            sid = call_sid(next(self._ids))
            conf_sid = room if room.startswith("CF") else conference_sid(room)
            return 201, _participant_body(conf_sid, sid, form.get("Label", [None])[0])
        if match := re.fullmatch(r"/Conferences/(CF\w+)/Participants/(CA\w+)\.json", path):
            if sent.method == "DELETE":
                return 204, None
            flags = {k.lower(): form[k][0] == "true" for k in ("Muted", "Hold") if k in form}
            return 200, _participant_body(match[1], match[2], None, "connected", **flags)
        if match := re.fullmatch(r"/Conferences/(CF\w+)\.json", path):
            return 200, _conference_body(match[1], "conf", form.get("Status", ["x"])[0])
        if sent.method == "GET" and path == "/Conferences.json":
            return 200, _page("conferences", [c for c, _ in self.live_rooms], path)
        return 404, error_body(404, 20404, f"The requested resource {path} was not found")


# -- webhooks ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One webhook request Twilio would send: route, our query string, its form."""

    path: str
    params: Mapping[str, str]
    query: str = ""

    @property
    def url(self) -> str:
        return PUBLIC_URL + self.path + (f"?{self.query}" if self.query else "")


def sign(url: str, params: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def post(client: FlaskClient, delivery: Delivery, *, signature: str | None = None) -> Any:
    """POST ``delivery`` as Twilio would: to the app, signed over the *public* URL."""
    headers = {"X-Twilio-Signature": signature or sign(delivery.url, delivery.params)}
    target = delivery.path + (f"?{delivery.query}" if delivery.query else "")
    return client.post(target, data=dict(delivery.params), headers=headers)


def timestamp(at: float) -> str:
    return formatdate(at, usegmt=False).replace("-0000", "+0000")


class Leg:
    """Builds the callbacks Twilio sends about one leg, numbering its call progress events."""

    def __init__(
        self, sid: str, from_: str, to: str, call_id: str | None = None, label: str | None = None
    ) -> None:
        """``call_id`` goes in the status callback URL (legs talkbox placed); ``label`` is the
        participant label (defaults to ``call_id``)."""
        self.sid, self.from_, self.to, self.call_id = sid, from_, to, call_id
        self.label = label or call_id
        self._seq = itertools.count()

    def status(self, status: str, at: float, duration: int | None = None) -> Delivery:
        params = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": "outbound-api" if self.call_id else "inbound",
            "From": self.from_,
            "To": self.to,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(next(self._seq)),
            "Timestamp": timestamp(at),
        }
        if duration is not None:
            params["CallDuration"] = str(duration)
        query = f"call={self.call_id}" if self.call_id else ""
        return Delivery("/twilio/call-status", params, query)


class Room:
    """Builds the conference status callbacks of one room, numbered per room."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sid = conference_sid(name)
        self._seq = itertools.count(1)

    def event(self, event: str, at: float, leg: Leg | None = None, **extra: str) -> Delivery:
        params = {
            "AccountSid": ACCOUNT_SID,
            "ConferenceSid": self.sid,
            "FriendlyName": self.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(next(self._seq)),
            "Timestamp": timestamp(at),
        }
        if leg is not None:
            params.update(
                CallSid=leg.sid,
                Muted="false",
                Hold="false",
                Coaching="false",
                EndConferenceOnExit="false",
                StartConferenceOnEnter="true",
            )
            if leg.label:
                params["ParticipantLabel"] = leg.label
        params.update(extra)
        return Delivery("/twilio/conference-status", params, f"conference={self.name}")


def voice(
    sid: str, from_: str, to: str, *, query: str = "", status: str = "ringing", **extra: str
) -> Delivery:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "ApplicationSid": APP_SID,
        "CallSid": sid,
        "CallStatus": status,
        "Called": to,
        "Caller": from_,
        "Direction": "inbound",
        "From": from_,
        "To": to,
    }
    params.update(extra)
    return Delivery("/twilio/voice", params, query)


@dataclass(frozen=True)
class Joined:
    """What a <Dial><Conference> TwiML answer says."""

    room: str
    label: str
    callback: str
    events: str


def parse_twiml(body: bytes | str) -> ElementTree.Element:
    return ElementTree.fromstring(body)


def joined(body: bytes | str) -> Joined:
    root = parse_twiml(body)
    conf = root.find("./Dial/Conference")
    assert conf is not None, body
    return Joined(
        room=conf.text or "",
        label=conf.get("participantLabel", ""),
        callback=conf.get("statusCallback", ""),
        events=conf.get("statusCallbackEvent", ""),
    )


def app_for(blueprint: Any) -> Flask:
    app = Flask("talkbox-test")
    app.register_blueprint(blueprint)
    return app
