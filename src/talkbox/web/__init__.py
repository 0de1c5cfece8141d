"""talkbox on the web: a Flask blueprint any app can mount (JSON API, per-device event stream,
authentication) and an app factory for a stand-alone server."""

from __future__ import annotations

# -- the JSON API, event stream and authentication (local provider issue) ----------------------
from talkbox.web.app import Talkbox, create_app, serve, talkbox_of

__all__ = ["Talkbox", "create_app", "serve", "talkbox_of"]
