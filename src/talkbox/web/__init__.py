"""talkbox on the web: Flask blueprints any app can mount.

* :class:`Talkbox` / :func:`create_app`: the JSON API, the per-device event stream and
  authentication (and, with the Twilio provider, Twilio's webhooks);
* :func:`twilio_blueprint`: Twilio's webhooks (voice, call status, conference status) alone.
"""

from __future__ import annotations

from talkbox.web.app import Talkbox, create_app, serve, talkbox_of
from talkbox.web.twilio_hooks import twilio_blueprint

__all__ = ["Talkbox", "create_app", "serve", "talkbox_of", "twilio_blueprint"]
