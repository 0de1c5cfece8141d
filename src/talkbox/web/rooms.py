"""Room operations for the people in a call: add someone, run the room, transfer, send digits.

The routes sit on the JSON API's blueprint (same authentication, CSRF and error mapping) and
are named by the caller's own leg (``call_id``), like the rest of the API. Who may do what:

* anyone whose leg is in the room may add a person, transfer their own place in it, send
  digits and leave (``POST /calls/<call_id>/hangup``);
* the room's owner (the person who started it) may also mute, hold and remove anyone;
  everyone else may do so to their own leg only.

The rules themselves (who may join, what a transfer does) stay in the switchboard; the local
provider's mesh limit is checked here as well so that the person adding gets a clear 409 at
once instead of a failure event a moment later.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from talkbox.errors import Conflict, Forbidden, NotFound
from talkbox.model import Call, Conference, Endpoint
from talkbox.providers.local import DTMF_RE, MESH_LIMIT
from talkbox.web.api import (
    BadInput,
    accepted,
    api,
    body,
    device_of,
    endpoint_of,
    field,
    local,
    me,
    own_leg,
    room_view,
    tb,
)


def require_reachable(target: Endpoint) -> None:
    """Local provider: refuse at once someone who cannot ring (no device online, or a number
    no simulated telephone registered), rather than fail a moment later as an event."""
    if tb().local is None or tb().hub.devices(target.value):
        return
    if target.is_client:
        raise Conflict(f"{target.value} is offline")
    raise Conflict(f"no simulated telephone has registered {target} (open /phone to make one)")


def joined_leg(call_id: str) -> tuple[Conference, Call]:
    """The caller's own leg, which must be in the room now."""
    conf, call = own_leg(call_id)
    if not call.is_live or not conf.participant(call_id).is_joined:
        raise Conflict(f"call {call_id} is not connected to the room")
    return conf, call


def commanded_leg(call_id: str, target_id: str) -> tuple[Conference, Call]:
    """``target_id`` in the caller's room, if the caller may command it (owner, or own leg)."""
    conf, mine = own_leg(call_id)
    target = conf.call(target_id)
    if target.id != mine.id and str(conf.owner) != me().endpoint:
        raise Forbidden("only the person who started the room may do that to someone else")
    return conf, target


@api.post("/calls/<call_id>/participants")
def add_participant(call_id: str) -> tuple[Response, int]:
    """Dial someone (``{"to": "carol"}`` or a number) into the caller's room."""
    target = endpoint_of(field(body(), "to", str))
    conf, _ = joined_leg(call_id)
    if target.is_client and tb().store.get_user(target.value) is None:
        raise NotFound("user", target.value)
    require_reachable(target)
    if tb().local is not None and len([c for c in conf.calls if c.is_live]) >= MESH_LIMIT:
        raise Conflict(
            f"this room is full: the local provider connects at most {MESH_LIMIT} people "
            "(every browser sends its audio to every other one)"
        )
    leg = tb().switchboard.add_participant(conf.id, target)
    view = room_view(tb().switchboard.get(conf.id), me().endpoint)
    view["added"] = leg.id
    return jsonify(view), 201


@api.post("/calls/<call_id>/legs/<target_id>/mute")
def mute_leg(call_id: str, target_id: str) -> tuple[Response, int]:
    muted = field(body(), "muted", bool)
    _, target = commanded_leg(call_id, target_id)
    tb().switchboard.mute(target.id, muted)
    return accepted({"muted": muted})


@api.post("/calls/<call_id>/legs/<target_id>/hold")
def hold_leg(call_id: str, target_id: str) -> tuple[Response, int]:
    on_hold = field(body(), "on_hold", bool)
    _, target = commanded_leg(call_id, target_id)
    tb().switchboard.hold(target.id, on_hold)
    return accepted({"on_hold": on_hold})


@api.post("/calls/<call_id>/legs/<target_id>/remove")
def remove_leg(call_id: str, target_id: str) -> tuple[Response, int]:
    body()
    _, target = commanded_leg(call_id, target_id)
    tb().switchboard.remove(target.id)
    return accepted()


@api.post("/calls/<call_id>/transfer")
def transfer(call_id: str) -> tuple[Response, int]:
    """Hand the caller's place to ``to``: cold (leave at once) or warm (``"warm": true``: the
    others wait on hold until ``/transfer/complete`` or ``/transfer/cancel``)."""
    data = body()
    target = endpoint_of(field(data, "to", str))
    warm = bool(field(data, "warm", bool, required=False))
    joined_leg(call_id)
    require_reachable(target)
    leg = tb().switchboard.transfer(call_id, target, warm=warm)
    return accepted({"target_call_id": leg.id, "warm": warm})


def _transferor(call_id: str) -> Conference:
    conf, call = own_leg(call_id)
    if conf.transfer is None or conf.transfer.by_call_id != call.id:
        raise Conflict("you have no warm transfer under way in this room")
    return conf


@api.post("/calls/<call_id>/transfer/complete")
def complete_transfer(call_id: str) -> tuple[Response, int]:
    body()
    tb().switchboard.complete_transfer(_transferor(call_id).id)
    return accepted()


@api.post("/calls/<call_id>/transfer/cancel")
def cancel_transfer(call_id: str) -> tuple[Response, int]:
    body()
    tb().switchboard.cancel_transfer(_transferor(call_id).id)
    return accepted()


@api.post("/calls/<call_id>/digits")
def digits(call_id: str) -> tuple[Response, int]:
    """Local provider: tell the room which DTMF digits this device just played (the tones
    themselves go in the media, see :meth:`LocalProvider.digits`)."""
    data = body()
    sent = field(data, "digits", str)
    if not DTMF_RE.fullmatch(sent):
        raise BadInput("'digits' must be 1 to 32 of 0-9, *, #, A-D or ','")
    device = device_of(data)
    own_leg(call_id)
    told = local().digits(me().name, device, call_id, sent)
    return accepted({"digits": sent, "devices": told})


@api.get("/voice-token")
def voice_token() -> Response:
    """Browser credentials for the provider in use (a Twilio Voice access token, or, for the
    local provider, only where to register). The softphone asks again before it expires."""
    creds = tb().switchboard.credentials(me().name)
    out: dict[str, Any] = {
        "provider": creds.provider,
        "identity": creds.identity,
        "token": creds.token,
        "expires_at": creds.expires_at,
        "extra": dict(creds.extra),
    }
    return jsonify(out)
