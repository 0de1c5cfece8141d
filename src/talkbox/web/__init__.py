"""Talkbox on the web: Flask blueprints any Flask app can mount.

:func:`twilio_blueprint` serves Twilio's webhooks (voice, call status, conference status).
"""

from talkbox.web.twilio_hooks import twilio_blueprint

__all__ = ["twilio_blueprint"]
