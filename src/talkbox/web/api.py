"""The JSON API: thin handlers that authenticate, parse, call the switchboard and render.

Every route needs a logged-in user (``POST /login`` aside) and acts as that user only: a call is
named by its leg id (``call_...``), and a user may command only their own legs and read only
rooms they are a party of. Errors are ``{"error": <code>, "message": <text>}`` with the status
mapped once, in :func:`register_error_handlers`. The routes are listed in the README.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from talkbox import events as ev
from talkbox.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InvalidEndpoint,
    NotFound,
    ProviderError,
    TalkboxError,
    Unauthorized,
)
from talkbox.model import Call, CallStatus, Conference, Endpoint
from talkbox.providers.local import MESH_LIMIT, LocalProvider
from talkbox.web.app import Talkbox, talkbox_of
from talkbox.web.auth import (
    Principal,
    TooManyAttempts,
    WeakPassword,
    authenticate_request,
    csrf_token,
    log_in,
    log_out,
)

api = Blueprint("talkbox_api", __name__)

DEVICE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
PUBLIC_ENDPOINTS = frozenset({"talkbox_api.login"})


class BadInput(TalkboxError):
    """The request body or a parameter is malformed (HTTP 400)."""

    input_error = True


class Offline(Conflict):
    """The user to call has no connected device."""


# -- plumbing ----------------------------------------------------------------------------------
def tb() -> Talkbox:
    return talkbox_of(current_app)


def me() -> Principal:
    principal = g.get("talkbox_principal")
    assert isinstance(principal, Principal)
    return principal


@api.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    g.talkbox_principal = authenticate_request(tb().accounts)


def body() -> dict[str, Any]:
    """The JSON object sent; an empty body is ``{}``. Only ``application/json`` is accepted,
    which also keeps plain HTML forms of other sites from posting here."""
    if not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise BadInput("send the body as JSON with 'Content-Type: application/json'")
    data = request.get_json(silent=True)
    if data is None:
        raise BadInput("the body is not valid JSON")
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(f"'{name}' must be a {kind.__name__}")
    return value


#: The longest session description a page may send (an audio offer is 2-6 KB; a ringing
#: call's offer is kept with its leg, which every change re-reads on a shared store).
MAX_SDP = 16_384


def device_of(data: dict[str, Any]) -> str:
    device = field(data, "device", str)
    if not DEVICE_RE.fullmatch(device):
        raise BadInput("'device' must be 8 to 64 letters, digits, '-' or '_'")
    return str(device)


def local() -> LocalProvider:
    provider = tb().local
    if provider is None:
        raise Conflict(f"the {tb().provider.name} provider signals devices itself")
    return provider


_PHONE_CHARS = re.compile(r"[\d\s().+-]+")


def endpoint_of(text: str) -> Endpoint:
    """A bare user name (``bob``, ``bob2``) means that user's browser client; digits and
    telephone punctuation only (``+1 415 555 2671``) a telephone number."""
    text = text.strip()
    if text and ":" not in text and not _PHONE_CHARS.fullmatch(text):
        text = f"client:{text}"
    return tb().switchboard.endpoint(text)


def own_leg(call_id: str) -> tuple[Conference, Call]:
    """The caller's own leg: 404 when unknown, 403 when it belongs to someone else."""
    conf, call = tb().switchboard.find_call(call_id)
    if str(call.endpoint) != me().endpoint:
        raise Forbidden(f"call {call_id} is not yours")
    return conf, call


def visible_room(call_id: str) -> Conference:
    conf, _ = tb().switchboard.find_call(call_id)
    if me().endpoint not in {str(e) for e in conf.parties}:
        raise Forbidden(f"call {call_id} is not one of yours")
    return conf


def room_view(conf: Conference, who: str) -> dict[str, Any]:
    """A room as its party ``who`` sees it: their own leg first-class, everyone's legs listed."""
    mine = [c for c in conf.calls if str(c.endpoint) == who]
    my_call = next((c for c in mine if c.is_live), mine[-1] if mine else None)
    legs = []
    for call in conf.calls:
        member = conf.participant(call.id)
        legs.append(
            {
                "call_id": call.id,
                "endpoint": str(call.endpoint),
                "role": call.role.value,
                "status": call.status.value,
                "joined": member.is_joined,
                "muted": member.muted,
                "on_hold": member.on_hold,
                "answered_at": call.answered_at,
                "ended_at": call.ended_at,
                "end_reason": call.end_reason.value if call.end_reason else None,
            }
        )
    return {
        "conference_id": conf.id,
        "status": conf.status.value,
        "owner": str(conf.owner),
        "direction": "outgoing" if str(conf.owner) == who else "incoming",
        "call_id": my_call.id if my_call else None,
        "created_at": conf.created_at,
        "started_at": conf.started_at,
        "ended_at": conf.ended_at,
        "end_reason": conf.end_reason.value if conf.end_reason else None,
        "end_party": str(conf.end_party) if conf.end_party else None,
        "legs": legs,
        "transfer": (
            {
                "by_call_id": conf.transfer.by_call_id,
                "to_call_id": conf.transfer.to_call_id,
                "held_call_ids": list(conf.transfer.held_call_ids),
            }
            if conf.transfer
            else None
        ),
    }


def accepted(payload: dict[str, Any] | None = None) -> tuple[Response, int]:
    """202: the provider was asked; the outcome arrives as events on the stream."""
    return jsonify(payload or {"status": "requested"}), 202


# -- session -----------------------------------------------------------------------------------
@api.post("/login")
def login() -> Response:
    data = body()
    name, password = field(data, "name", str), field(data, "password", str)
    keys = (f"name:{name}", f"addr:{request.remote_addr}")
    throttle = tb().login_throttle
    throttle.check(*keys)
    try:
        user = tb().accounts.authenticate(name, password)
    except Unauthorized:
        throttle.failed(*keys)
        raise
    throttle.succeeded(keys[0])
    return jsonify({"user": user.name, "csrf_token": log_in(user)})


@api.post("/logout")
def logout() -> tuple[str, int]:
    log_out()
    return "", 204


@api.get("/me")
def whoami() -> Response:
    return jsonify(
        {
            "user": me().name,
            "endpoint": me().endpoint,
            "csrf_token": csrf_token() if me().via == "session" else None,
            "provider": tb().provider.name,
        }
    )


@api.get("/presence")
def presence() -> Response:
    online = set(tb().hub.online())
    users = [{"name": u.name, "online": u.name in online} for u in tb().store.users()]
    return jsonify({"users": users, "online": sorted(online)})


# -- calls -------------------------------------------------------------------------------------
@api.get("/calls")
def current_calls() -> Response:
    who = me().endpoint
    rooms = [c for c in tb().switchboard.live() if who in {str(e) for e in c.parties}]
    # ``now`` lets a page time calls with the server's clock, whatever its own says.
    return jsonify({"calls": [room_view(c, who) for c in rooms], "now": tb().switchboard.clock()})


@api.post("/calls")
def dial() -> tuple[Response, int]:
    data = body()
    target = endpoint_of(field(data, "to", str))
    device = device_of(data) if data.get("device") is not None else None
    who = me()
    if str(target) == who.endpoint:
        raise BadInput("you cannot call yourself")
    if target.is_client and tb().store.get_user(target.value) is None:
        raise NotFound("user", target.value)
    provider = tb().local
    if provider is not None and target.is_client and not tb().devices.devices(target.value):
        raise Offline(f"{target.value} is offline")
    board = tb().switchboard
    if provider is not None and device is not None:
        # The browser placing the call is the caller's leg, answered already. Its media offer,
        # if it sent one, goes out with the invite (answered in the callee's accept).
        offer, candidates = sdp_of(data, "offer"), candidates_of(data)
        leg = provider.originate(who.name, device, offer=offer, candidates=candidates)
        try:
            conf = board.incoming(
                who.endpoint, target, provider_call_id=leg, status=CallStatus.IN_PROGRESS
            )
        except BaseException:
            provider.discard(leg)
            raise
        provider.attach(leg, conf.id, conf.caller.id)
        view = room_view(board.get(conf.id), who.endpoint)
        view["leg"] = leg
        return jsonify(view), 201
    conf = board.dial(who.endpoint, target)
    return jsonify(room_view(board.get(conf.id), who.endpoint)), 201


@api.get("/calls/<call_id>")
def show_call(call_id: str) -> Response:
    return jsonify(room_view(visible_room(call_id), me().endpoint))


@api.post("/calls/<call_id>/hangup")
def hangup(call_id: str) -> tuple[Response, int]:
    body()
    own_leg(call_id)
    tb().switchboard.hangup(call_id)
    return accepted()


@api.post("/calls/<call_id>/mute")
def mute(call_id: str) -> tuple[Response, int]:
    muted = field(body(), "muted", bool)
    own_leg(call_id)
    tb().switchboard.mute(call_id, muted)
    return accepted({"muted": muted})


@api.post("/calls/<call_id>/hold")
def hold(call_id: str) -> tuple[Response, int]:
    on_hold = field(body(), "on_hold", bool)
    own_leg(call_id)
    tb().switchboard.hold(call_id, on_hold)
    return accepted({"on_hold": on_hold})


def _device_command(call_id: str, action: Callable[[LocalProvider, str, str], Any]) -> Any:
    device = device_of(body())
    own_leg(call_id)
    return action(local(), me().name, device)


@api.post("/calls/<call_id>/ringing")
def ringing(call_id: str) -> tuple[Response, int]:
    _device_command(call_id, lambda p, who, device: p.ringing(who, device, call_id))
    return accepted()


@api.post("/calls/<call_id>/accept")
def accept(call_id: str) -> Response:
    data = body()
    answer, candidates = sdp_of(data, "answer"), candidates_of(data)
    media = _device_command(
        call_id,
        lambda p, who, device: p.accept(who, device, call_id, answer=answer, candidates=candidates),
    )
    return jsonify(media)


def sdp_of(data: dict[str, Any], name: str) -> str | None:
    """An optional session description (the caller's offer sent with the call, the callee's
    answer sent with its accept), bounded in size."""
    sdp: str | None = field(data, name, str, required=False)
    if sdp is not None and not 0 < len(sdp) <= MAX_SDP:
        raise BadInput(f"'{name}' must be a session description of at most {MAX_SDP} characters")
    return sdp


#: The most ICE candidates a description may carry (a host has a few per network interface).
MAX_CANDIDATES = 32


def candidates_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The ICE candidates gathered before an offer or answer was sent, sent with it (so that
    a call on a LAN connects with no further signalling). Each as ``RTCIceCandidate.toJSON()``."""
    found = data.get("candidates")
    if found is None:
        return []
    if not isinstance(found, list) or len(found) > MAX_CANDIDATES:
        raise BadInput(f"'candidates' must be a list of at most {MAX_CANDIDATES} ICE candidates")
    out = []
    for item in found:
        ok = isinstance(item, dict) and isinstance(item.get("candidate"), str)
        if not ok or len(item["candidate"]) > 1024:
            raise BadInput("each of 'candidates' must be an ICE candidate ({candidate, ...})")
        mid, index = item.get("sdpMid"), item.get("sdpMLineIndex")
        if not (mid is None or isinstance(mid, str)) or not (
            index is None or (isinstance(index, int) and not isinstance(index, bool))
        ):
            raise BadInput("an ICE candidate's sdpMid must be a string, sdpMLineIndex a number")
        out.append({"candidate": item["candidate"], "sdpMid": mid, "sdpMLineIndex": index})
    return out


@api.post("/calls/<call_id>/reject")
def reject(call_id: str) -> tuple[Response, int]:
    _device_command(call_id, lambda p, who, device: p.reject(who, device, call_id))
    return accepted()


@api.post("/signal")
def signal() -> tuple[str, int]:
    """Relay WebRTC offers, answers and ICE candidates to the device of another leg."""
    data = body()
    device = device_of(data)
    for name in ("type", "leg", "to"):
        field(data, name, str)
    local().relay(me().name, device, data)
    return "", 204


@api.get("/history")
def history() -> Response:
    limit = request.args.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        raise BadInput("'limit' must be a whole number from 1 to 500")
    ended = tb().switchboard.history(me().endpoint, limit=int(limit))
    return jsonify({"calls": [ev.to_dict(e) for e in ended]})


# -- rooms (conference control for API clients such as the CLI) ------------------------------
def party_room(conference_id: str, *, live: bool = True) -> Conference:
    """A room the user is in: any party with a live leg may manage it (add, end; mute, hold
    and remove within :func:`room_leg`'s rule), as on a conference bridge; any party, live or
    not, may read it. 404 when unknown, 403 when not theirs; a party commanding an ended room
    gets the switchboard's 409."""
    conf = tb().switchboard.get(conference_id)
    who = me().endpoint
    if live and any(c.is_live for c in conf.calls):
        allowed = any(str(c.endpoint) == who and c.is_live for c in conf.calls)
    else:
        allowed = who in {str(e) for e in conf.parties}
    if not allowed:
        raise Forbidden(f"you have no {'live call' if live else 'call'} in {conference_id}")
    return conf


def room_leg(conference_id: str, call_id: str) -> str:
    """A leg the user may mute, hold or remove: anyone's for the person who started the room
    (the issue's rule for conferences), otherwise only their own."""
    conf = party_room(conference_id)
    if call_id not in {c.id for c in conf.calls}:
        raise NotFound("call", call_id)
    if str(conf.owner) != me().endpoint and str(conf.call(call_id).endpoint) != me().endpoint:
        raise Forbidden("only the person who started the room may do that to someone else")
    return call_id


def require_reachable(target: Endpoint) -> None:
    """Local provider: refuse at once someone who cannot ring (no device online, or a number
    no simulated telephone registered), rather than fail a moment later as an event."""
    if tb().local is None or tb().devices.devices(target.value):
        return
    if target.is_client:
        raise Offline(f"{target.value} is offline")
    raise Conflict(f"no simulated telephone has registered {target} (open /phone to make one)")


def require_room_for_one_more(conf: Conference) -> None:
    """Local provider: a room is a browser mesh of at most ``MESH_LIMIT`` people."""
    if tb().local is not None and sum(c.is_live for c in conf.calls) >= MESH_LIMIT:
        raise Conflict(
            f"this room is full: the local provider connects at most {MESH_LIMIT} people "
            "(every browser sends its audio to every other one)"
        )


@api.get("/rooms/<conference_id>")
def show_room(conference_id: str) -> Response:
    return jsonify(room_view(party_room(conference_id, live=False), me().endpoint))


@api.post("/rooms/<conference_id>/participants")
def add_participant(conference_id: str) -> tuple[Response, int]:
    target = endpoint_of(field(body(), "to", str))
    conf = party_room(conference_id)
    if target.is_client and tb().store.get_user(target.value) is None:
        raise NotFound("user", target.value)
    require_reachable(target)
    require_room_for_one_more(conf)
    call = tb().switchboard.add_participant(conference_id, target)
    view = room_view(tb().switchboard.get(conference_id), me().endpoint)
    view["added_call_id"] = call.id
    return jsonify(view), 201


@api.post("/rooms/<conference_id>/participants/<call_id>/mute")
def mute_participant(conference_id: str, call_id: str) -> tuple[Response, int]:
    muted = field(body(), "muted", bool)
    tb().switchboard.mute(room_leg(conference_id, call_id), muted)
    return accepted({"muted": muted})


@api.post("/rooms/<conference_id>/participants/<call_id>/hold")
def hold_participant(conference_id: str, call_id: str) -> tuple[Response, int]:
    on_hold = field(body(), "on_hold", bool)
    tb().switchboard.hold(room_leg(conference_id, call_id), on_hold)
    return accepted({"on_hold": on_hold})


@api.post("/rooms/<conference_id>/participants/<call_id>/remove")
def remove_participant(conference_id: str, call_id: str) -> tuple[Response, int]:
    body()
    tb().switchboard.remove(room_leg(conference_id, call_id))
    return accepted()


@api.post("/rooms/<conference_id>/end")
def end_room(conference_id: str) -> tuple[Response, int]:
    body()
    party_room(conference_id)
    tb().switchboard.end_conference(conference_id)
    return accepted()


@api.post("/calls/<call_id>/transfer")
def transfer(call_id: str) -> tuple[Response, int]:
    data = body()
    target = endpoint_of(field(data, "to", str))
    warm = bool(field(data, "warm", bool, required=False))
    conf, _ = own_leg(call_id)
    require_reachable(target)
    leg = tb().switchboard.transfer(call_id, target, warm=warm)
    view = room_view(tb().switchboard.get(conf.id), me().endpoint)
    view["target_call_id"] = leg.id
    return jsonify(view), 201


@api.post("/rooms/<conference_id>/transfer/<outcome>")
def finish_transfer(conference_id: str, outcome: str) -> tuple[Response, int]:
    body()
    conf = party_room(conference_id)
    transfer = conf.transfer
    if transfer is not None and str(conf.call(transfer.by_call_id).endpoint) != me().endpoint:
        raise Forbidden("only the person transferring may complete or cancel the transfer")
    if outcome == "complete":
        tb().switchboard.complete_transfer(conference_id)
    elif outcome == "cancel":
        tb().switchboard.cancel_transfer(conference_id)
    else:
        raise NotFound("transfer outcome", outcome)
    return accepted()


# -- event stream ------------------------------------------------------------------------------
@api.get("/stream")
def stream() -> Response:
    """This device's server-sent events (see :mod:`talkbox.web.stream`)."""
    device = request.args.get("device", "")
    if not DEVICE_RE.fullmatch(device):
        raise BadInput("'device' must be 8 to 64 letters, digits, '-' or '_'")
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if last is not None and not last.isdigit():
        raise BadInput("Last-Event-ID must be an event id")
    hub = tb().hub
    # ``observe=1``: the user's events without being one of their devices (``talkbox watch``).
    observe = request.args.get("observe", "").lower() in ("1", "true")
    device_stream = hub.open(me().name, device, observer=observe)
    response = Response(
        hub.iterate(device_stream, int(last) if last else None), mimetype="text/event-stream"
    )
    # A client gone before the body started never runs the generator's cleanup: this does.
    response.call_on_close(lambda: hub.close(device_stream))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@api.post("/devices/<device>/away")
def device_away(device: str) -> tuple[str, int]:
    """Sent by a page as it unloads (``fetch(..., {keepalive: true})``) with its stream's
    token from the ``hello`` message; calls on a closed tab then end after the grace period."""
    token = field(body(), "stream", str)
    if not DEVICE_RE.fullmatch(device):
        raise BadInput("'device' must be 8 to 64 letters, digits, '-' or '_'")
    shared = tb().shared_hub
    (shared or tb().hub).away(me().name, device, token)
    return "", 204


# -- API tokens --------------------------------------------------------------------------------
@api.get("/tokens")
def list_tokens() -> Response:
    tokens = tb().store.tokens(me().name)
    return jsonify(
        {"tokens": [{"id": t.id, "label": t.label, "created_at": t.created_at} for t in tokens]}
    )


@api.post("/tokens")
def create_token() -> tuple[Response, int]:
    label = field(body(), "label", str, required=False) or ""
    token, secret = tb().accounts.issue_token(me().name, label)
    return jsonify({"id": token.id, "label": token.label, "token": secret}), 201


@api.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> tuple[str, int]:
    if not tb().store.delete_token(me().name, token_id):
        raise NotFound("token", token_id)
    return "", 204


# -- errors ------------------------------------------------------------------------------------
_STATUS: list[tuple[type[Exception], int, str]] = [
    (BadInput, 400, "bad-request"),
    (WeakPassword, 400, "bad-request"),
    (InvalidEndpoint, 400, "invalid-endpoint"),
    (TooManyAttempts, 429, "too-many-attempts"),
    (Forbidden, 403, "forbidden"),
    (Unauthorized, 401, "unauthorized"),
    (NotFound, 404, "not-found"),
    (Offline, 409, "offline"),
    (Conflict, 409, "conflict"),
    (ProviderError, 502, "provider-error"),
    (ConfigError, 500, "config-error"),
    (TalkboxError, 500, "error"),
]


def error_response(exc: Exception) -> tuple[Response, int]:
    if isinstance(exc, ProviderError) and exc.code == "offline":
        return jsonify({"error": "offline", "message": exc.message}), 409
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return jsonify({"error": code, "message": str(exc)}), status
    raise exc


def register_error_handlers(app: Flask, url_prefix: str) -> None:
    """Talkbox errors anywhere, and HTTP errors under the API's prefix, become JSON."""

    def talkbox_error(exc: TalkboxError | WeakPassword) -> tuple[Response, int]:
        return error_response(exc)

    def http_error(exc: HTTPException) -> Response | HTTPException | tuple[Response, int]:
        if not request.path.startswith(url_prefix + "/") and request.path != url_prefix:
            return exc
        code = (exc.name or "error").lower().replace(" ", "-")
        return jsonify({"error": code, "message": exc.description}), exc.code or 500

    def store_unavailable(exc: Exception) -> Response:
        # The store (Redis, SQLite) failed underneath a request: nothing was half-done (its
        # updates are atomic), so say "try again" rather than show a 500 page.
        current_app.logger.error("store unavailable on %s: %s", request.path, exc)
        response = jsonify(
            {"error": "store-unavailable", "message": "the call store is not answering; retry"}
        )
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return response

    app.register_error_handler(TalkboxError, talkbox_error)
    app.register_error_handler(WeakPassword, talkbox_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(sqlite3.Error, store_unavailable)
    try:
        import redis
    except ImportError:  # no redis extra: no Redis store either
        return
    app.register_error_handler(redis.RedisError, store_unavailable)
