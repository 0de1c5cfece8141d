"""What a browser needs beyond the room routes of :mod:`talkbox.web.api`: DTMF digits for
the other side to show (local provider) and browser credentials for the provider in use.

The routes sit on the JSON API's blueprint (same authentication, CSRF and error mapping).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from talkbox.providers.local import DTMF_RE
from talkbox.web.api import (
    BadInput,
    accepted,
    api,
    body,
    device_of,
    field,
    local,
    me,
    own_leg,
    tb,
)


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
