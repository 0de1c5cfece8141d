"""Twilio Programmable Voice for talkbox: REST call control, TwiML, webhook parsing, tokens.

The webhooks themselves are served by :func:`talkbox.web.twilio_blueprint`.
"""

from talkbox.providers.twilio.errors import RetryPolicy, provider_error
from talkbox.providers.twilio.provider import TwilioProvider, WebhookUrls
from talkbox.providers.twilio.reports import BadWebhook, call_report, conference_report
from talkbox.providers.twilio.routing import NumberRoutes, routes_from_env

__all__ = [
    "BadWebhook",
    "NumberRoutes",
    "RetryPolicy",
    "TwilioProvider",
    "WebhookUrls",
    "call_report",
    "conference_report",
    "provider_error",
    "routes_from_env",
]
