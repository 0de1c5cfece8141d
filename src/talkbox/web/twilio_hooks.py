"""Twilio's webhooks as a Flask blueprint: thin handlers that verify, parse, call the
switchboard and render.

Routes (under ``url_prefix``, ``/twilio`` by default):

``POST /voice``
    TwiML for a leg: a browser calling out (TwiML App), a leg talkbox placed (``?conference=``),
    or a telephone calling one of our numbers (routed by ``TWILIO_NUMBER_ROUTES``).
``POST /call-status``
    a leg's progress, applied as a :class:`~talkbox.providers.base.CallReport`.
``POST /conference-status``
    a room's and its participants' events, applied as participant / conference reports.

Every request must carry a valid ``X-Twilio-Signature`` computed over the *public* URL
(``TALKBOX_PUBLIC_URL`` + path + query), not ``request.url``, which is wrong behind a proxy,
tunnel or TLS terminator. Status webhooks only touch the store: REST requests the rules ask for
run on the switchboard's effect runner, so Twilio gets its answer at once.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping, Sequence

from flask import Blueprint, Response, current_app, jsonify, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

from talkbox.config import Settings
from talkbox.errors import ConfigError, NotFound, TalkboxError
from talkbox.model import CLIENT_PREFIX, CallStatus, Conference, Endpoint
from talkbox.providers.twilio import twiml
from talkbox.providers.twilio.provider import TwilioProvider
from talkbox.providers.twilio.reports import (
    CALL_ID,
    CALL_SID,
    CONFERENCE_ID,
    BadWebhook,
    call_report,
    call_status,
    conference_report,
    optional_id,
    required,
)
from talkbox.providers.twilio.routing import NumberRoutes, routes_from_env
from talkbox.switchboard import Switchboard

log = logging.getLogger("talkbox.web.twilio")

TWIML = "application/xml"


def twilio_blueprint(
    switchboard: Switchboard,
    provider: TwilioProvider,
    settings: Settings,
    *,
    url_prefix: str | None = None,
    routes: NumberRoutes | Mapping[str, Sequence[str]] | None = None,
    is_online: Callable[[str], bool] | None = None,
    name: str = "talkbox_twilio",
) -> Blueprint:
    """The webhook blueprint for ``switchboard`` driving ``provider``.

    ``settings`` is a :class:`talkbox.config.Settings` (its ``twilio.auth_token`` checks
    signatures, its ``public_url`` is the URL Twilio calls). ``routes`` maps our numbers to
    identities (default: ``TWILIO_NUMBER_ROUTES``); ``is_online(identity)``, when given, leaves
    out users with no registered browser, so that a caller nobody can answer hears so at once.
    The prefix must be the one the provider puts in its callback URLs.
    """
    twilio, public_url, region = settings.twilio, settings.public_url, settings.default_region
    if twilio is None or not twilio.auth_token:
        raise ConfigError("Twilio webhooks need TWILIO_AUTH_TOKEN to check signatures")
    if not public_url:
        raise ConfigError("Twilio webhooks need TALKBOX_PUBLIC_URL (the URL Twilio calls)")
    urls = provider.urls
    if url_prefix is not None and url_prefix.rstrip("/") != urls.prefix:
        raise ConfigError(
            f"url_prefix {url_prefix!r} differs from the provider's callback prefix "
            f"{urls.prefix!r}; build the provider with WebhookUrls(prefix={url_prefix!r})"
        )
    if routes is None:
        routes = routes_from_env(default_region=region)
    elif not isinstance(routes, NumberRoutes):
        routes = NumberRoutes.of(routes, region)
    number_routes: NumberRoutes = routes
    validator = RequestValidator(twilio.auth_token)
    base_url = str(public_url).rstrip("/")
    bp = Blueprint(name, __name__, url_prefix=urls.prefix or None)

    @bp.before_request
    def check_signature() -> Response | None:
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            return _reject(400, "missing X-Twilio-Signature header")
        query = request.query_string.decode("utf-8", "replace")
        url = f"{base_url}{request.path}" + (f"?{query}" if query else "")
        form = request.form
        # Twilio signs the URL it called, which is ours exactly as configured: one HMAC
        # accepts a good request. ``validate`` (which also tries the URL with and without
        # its port, two more HMACs) only decides the requests that one does not match.
        expected = validator.compute_signature(url, form)
        if not hmac.compare_digest(expected.encode(), signature.encode()) and not (
            validator.validate(url, form, signature)
        ):
            log.warning("rejected a request with a wrong Twilio signature for %s", request.path)
            return _reject(403, "invalid X-Twilio-Signature")
        return None

    @bp.errorhandler(BadWebhook)
    def bad_webhook(exc: BadWebhook) -> Response:
        return _reject(400, str(exc))

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        current_app.logger.exception("Twilio webhook %s failed", request.path)
        if request.endpoint == f"{name}.voice":
            return _twiml(twiml.goodbye(twiml.CANNOT_CONNECT))
        # Not a 500 with a stack trace page: a short reason, and the trace in our log.
        return _reject(503, "could not apply the report right now")

    @bp.post(urls.voice_route)
    def voice() -> Response:
        form = request.form
        call_sid = required(form, "CallSid", CALL_SID)
        conference_id = optional_id(request.args.get("conference"), CONFERENCE_ID, "conference")
        if conference_id is not None:
            call_id = optional_id(request.args.get("call"), CALL_ID, "call")
            return _twiml(_join_placed_leg(conference_id, call_id, call_sid))
        caller = required(form, "From")
        status = call_status(form.get("CallStatus") or "ringing")
        if caller.lower().startswith(CLIENT_PREFIX):
            return _twiml(_browser_call(caller, required(form, "To"), call_sid, status))
        return _twiml(_phone_call(caller, required(form, "To"), call_sid, status))

    def _join_placed_leg(conference_id: str, call_id: str | None, call_sid: str) -> str:
        """A leg talkbox placed was answered: into its room, unless the room is over."""
        try:
            conf = switchboard.get(conference_id)
            call = conf.call(call_id) if call_id else conf.call_by_provider_id(call_sid)
        except NotFound:
            return twiml.goodbye(twiml.CANNOT_CONNECT)
        if call is None or not conf.status.is_open or not call.is_live:
            return twiml.goodbye()
        return twiml.join_room(urls, conf.id, call.id)

    def _browser_call(caller: str, to: str, call_sid: str, status: CallStatus) -> str:
        """A browser dialled out through the TwiML App: its leg opens the room; the callee is
        dialled by the switchboard once this leg has joined."""
        try:
            callee = Endpoint.parse(to, region)
            conf = switchboard.incoming(
                caller,
                callee,
                provider_call_id=call_sid,
                status=status,
            )
        except TalkboxError as exc:
            log.info("browser call %s from %s to %r refused: %s", call_sid, caller, to, exc)
            return twiml.goodbye(f"Sorry, we cannot call that number. {_spoken(exc)}")
        return _join_caller(conf)

    def _phone_call(caller: str, number: str, call_sid: str, status: CallStatus) -> str:
        """A telephone called one of our numbers: ring everyone it belongs to who is online."""
        try:
            ours = Endpoint.phone(number, region).value
        except TalkboxError:
            return twiml.goodbye(twiml.NOT_IN_SERVICE)
        identities = number_routes.get(ours, ())
        if not identities:
            log.info("call %s to %s: the number routes to nobody", call_sid, ours)
            return twiml.goodbye(twiml.NOT_IN_SERVICE)
        reachable = [i for i in identities if is_online is None or is_online(i)]
        if not reachable:
            return twiml.goodbye(twiml.NOBODY_AVAILABLE)
        try:
            conf = switchboard.incoming(
                caller,
                [Endpoint.client(i) for i in reachable],
                provider_call_id=call_sid,
                status=status,
                tags=(("twilio_number", ours),),
            )
        except TalkboxError as exc:
            # e.g. a withheld caller id (Twilio sends "anonymous"), which is not an endpoint.
            log.info("call %s from %r refused: %s", call_sid, caller, exc)
            return twiml.goodbye(twiml.CANNOT_CONNECT)
        return _join_caller(conf)

    def _join_caller(conf: Conference) -> str:
        # A retried webhook finds the room it opened; if that room is over meanwhile, joining
        # would recreate an empty Twilio conference under the same name.
        if not conf.status.is_open or not conf.caller.is_live:
            return twiml.goodbye()
        return twiml.join_room(urls, conf.id, conf.caller.id)

    @bp.post(urls.call_status_route)
    def call_status_hook() -> Response:
        switchboard.apply(call_report(request.form, request.args.get("call")))
        return Response(status=204)

    @bp.post(urls.conference_status_route)
    def conference_status_hook() -> Response:
        report = conference_report(request.form, request.args.get("conference"))
        if report is not None:
            switchboard.apply(report)
        return Response(status=204)

    return bp


def _twiml(body: str) -> Response:
    return Response(body, status=200, mimetype=TWIML)


def _reject(status: int, reason: str) -> Response:
    response = jsonify(error=reason)
    response.status_code = status
    return response


def _spoken(exc: TalkboxError) -> str:
    reason = getattr(exc, "reason", None)
    return f"The number is {reason}." if isinstance(reason, str) else ""
