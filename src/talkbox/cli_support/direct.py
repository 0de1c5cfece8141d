"""Twilio without a talkbox server: the CLI's switchboard places legs with inline TwiML and
learns what happened by asking Twilio's REST API, since no webhook can reach a terminal.

The switchboard stays the one place with call rules: the CLI only polls, and every poll is the
switchboard's own start-up reconciliation (:func:`talkbox.switchboard.recovery.reconcile`), which
turns Twilio's view of live calls and rooms into ordinary reports. That is how the callee gets
dialled once the caller has joined the room, and how a room ends when one person is left.
"""

from __future__ import annotations

from typing import Any

from twilio.twiml.voice_response import Dial, VoiceResponse

from talkbox.config import Settings
from talkbox.errors import ConfigError
from talkbox.model import Call, Conference
from talkbox.providers.twilio import TwilioProvider, WebhookUrls
from talkbox.store import open_store
from talkbox.switchboard import Switchboard

#: Never contacted: direct mode asks Twilio for no callbacks, but the adapter wants a base URL.
NO_WEBHOOKS = "https://webhooks.invalid"


def join_room(conference: Conference) -> str:
    """TwiML that puts the answered leg into the room named after ``conference``."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        conference.id,
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=False,
    )
    response.append(dial)
    return str(response)


class DirectTwilioProvider(TwilioProvider):
    """The Twilio adapter with TwiML given inline and no status callbacks."""

    def answer_options(self, conference: Conference, call: Call) -> dict[str, Any]:
        return {"twiml": join_room(conference)}

    def callback_options(self, conference: Conference, call: Call) -> dict[str, Any]:
        return {}  # no webhook reaches a terminal: the CLI polls instead


def direct_switchboard(settings: Settings, **options: Any) -> Switchboard:
    """A switchboard on Twilio (direct) and the configured store, effects run inline."""
    if settings.twilio is None:
        raise ConfigError(
            "direct mode needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
            "(or use a server: --server / TALKBOX_SERVER)"
        )
    provider = DirectTwilioProvider(
        settings.twilio, WebhookUrls(settings.public_url or NO_WEBHOOKS), **options
    )
    return Switchboard(
        open_store(settings.store),
        provider,
        default_region=settings.default_region,
        run_effect=lambda work: work(),
    )
