"""Simulated telephones (local provider only): a page that answers for an E.164 number.

So that "a telephone calls the softphone" and "the softphone calls a telephone" can be tried
with no account and no network, a logged-in user may register numbers for their session
(``POST /api/phones``). A request that then names one of them (header ``X-Talkbox-Phone`` or,
for the event stream, the query parameter ``phone``) acts as that number instead of as the
user: its device registers under the number, calls it places come from the number, and calls
to the number ring it. Everything else (the stream, accept, signalling) is the ordinary API.

It is a simulation and says so: no real telephone network is involved, and with the Twilio
provider the routes refuse (real numbers ring real telephones there).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, g, jsonify, request, session

from talkbox.errors import Conflict, Forbidden
from talkbox.web.api import api, body, field, me, tb
from talkbox.web.auth import Principal

SESSION_KEY = "talkbox_phones"
#: Numbers one session may register (each is a simulated line with its own event stream).
MAX_PHONES = 5


#: Routes a telephone has no business with: API tokens would outlive the session that
#: registered the number, and sessions belong to the user.
NOT_FOR_PHONES = frozenset(
    {
        "talkbox_api.list_tokens",
        "talkbox_api.create_token",
        "talkbox_api.revoke_token",
        "talkbox_api.logout",
        "talkbox_api.voice_token",
    }
)


@dataclass(frozen=True, slots=True)
class PhonePrincipal(Principal):
    """A request acting as a simulated telephone registered by the session's user."""

    user: str = ""

    @property
    def endpoint(self) -> str:
        return self.name


@api.before_request
def _act_as_phone() -> None:
    """Runs after the API's own authentication (registered later on the same blueprint):
    a request naming one of the session's simulated telephones acts as that number."""
    number = request.headers.get("X-Talkbox-Phone") or request.args.get("phone")
    principal = g.get("talkbox_principal")
    if not number or not isinstance(principal, Principal):
        return
    if request.endpoint in ("talkbox_api.register_phone", "talkbox_api.list_phones"):
        return
    if principal.via != "session" or number not in session.get(SESSION_KEY, []):
        raise Forbidden(f"{number} is not a simulated telephone of this session")
    if request.endpoint in NOT_FOR_PHONES:
        raise Forbidden("a simulated telephone only makes and takes calls")
    g.talkbox_principal = PhonePrincipal(number, "session", principal.name)


@api.post("/phones")
def register_phone() -> tuple[Response, int]:
    """Register ``{"number": "+14155550100"}`` as a simulated telephone of this session."""
    if tb().local is None:
        raise Conflict("simulated telephones exist only with the local provider")
    if me().via != "session":
        raise Forbidden("simulated telephones belong to a browser session; log in")
    endpoint = tb().switchboard.endpoint(field(body(), "number", str).strip())
    if not endpoint.is_phone:
        raise Conflict(f"{endpoint} is not a telephone number")
    phones = [n for n in session.get(SESSION_KEY, []) if n != endpoint.value]
    phones = [*phones, endpoint.value][-MAX_PHONES:]
    session[SESSION_KEY] = phones
    return jsonify({"number": endpoint.value, "simulated": True}), 201


@api.get("/phones")
def list_phones() -> Response:
    return jsonify({"phones": list(session.get(SESSION_KEY, [])), "simulated": True})
