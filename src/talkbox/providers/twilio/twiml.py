"""The TwiML talkbox answers Twilio's voice webhook with, built with ``VoiceResponse``."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from talkbox.providers.twilio.provider import CONFERENCE_EVENTS, WebhookUrls

NOBODY_AVAILABLE = "Sorry, nobody can take your call right now. Please try again later. Goodbye."
NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
CANNOT_CONNECT = "Sorry, we could not connect your call. Goodbye."


def join_room(urls: WebhookUrls, conference_id: str, call_id: str) -> str:
    """Put the leg that fetched this TwiML into the room. The room must not end when this leg
    leaves and must start as soon as it enters: talkbox's own rules decide when it ends."""
    response = VoiceResponse()
    dial = response.dial()
    dial.conference(
        conference_id,
        participant_label=call_id,
        beep=False,
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        status_callback=urls.conference_status(conference_id),
        status_callback_method="POST",
        status_callback_event=" ".join(CONFERENCE_EVENTS),
    )
    return str(response)


#: What a caller left alone hears before the hang-up, by why nobody joined them.
FAREWELLS = {
    "no-answer": "Sorry, nobody answered. Please try again later. Goodbye.",
    "busy": "Sorry, the line is busy. Please try again later. Goodbye.",
    "rejected": "Sorry, your call was declined. Goodbye.",
    "invalid-number": "Sorry, that number cannot be reached. Please check it and try again.",
    "failed": CANNOT_CONNECT,
}


def goodbye(message: str | None = None) -> str:
    """A short spoken message (if any), then hang up: better than silence or an error tone."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return str(response)
