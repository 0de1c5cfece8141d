"""The talkbox softphone: the talkbox API blueprint plus a static page of ES modules.

Run it (the README's quick start)::

    python examples/web/app.py            # http://127.0.0.1:8000/, demo users printed

Environment: ``TALKBOX_STORE`` (default: SQLite under ``~/.local/share/talkbox``),
``TALKBOX_PROVIDER`` (default ``local``), ``TALKBOX_SECRET_KEY`` (sessions across restarts).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, send_file, send_from_directory

from talkbox.config import Settings
from talkbox.web import create_app, serve, talkbox_of

STATIC = Path(__file__).resolve().parent / "static"
#: The Twilio Voice SDK, installed by ``npm ci`` in this folder (never committed).
TWILIO_SDK = Path(__file__).resolve().parent / "node_modules/@twilio/voice-sdk/dist/twilio.min.js"

#: The page loads only its own scripts and styles and talks only to its own origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self' blob: mediastream:; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

#: With the Twilio provider the Voice SDK talks to Twilio's signalling and event gateways and
#: plays its own sounds from Twilio's SDK host.
CSP_TWILIO = CSP.replace(
    "connect-src 'self'", "connect-src 'self' https://*.twilio.com wss://*.twilio.com"
).replace("media-src 'self'", "media-src 'self' https://sdk.twilio.com")

softphone = Blueprint("softphone", __name__, static_folder=str(STATIC), static_url_path="/static")


@softphone.get("/")
def index() -> Response:
    return send_from_directory(STATIC, "index.html")


@softphone.get("/phone")
def simulated_phone() -> Response:
    """A page that acts as a telephone number (a labelled simulation, local provider only)."""
    return send_from_directory(STATIC, "phone.html")


@softphone.get("/vendor/twilio-voice-sdk.js")
def twilio_sdk() -> Response:
    """The Voice SDK for Twilio mode, served from this origin (no CDN at run time)."""
    if not TWILIO_SDK.is_file():
        abort(404, "the Twilio Voice SDK is not installed: run 'npm ci' in examples/web")
    return send_file(TWILIO_SDK, mimetype="text/javascript")


@softphone.after_app_request
def security_headers(response: Response) -> Response:
    twilio = current_app.extensions.get("talkbox") and talkbox_of(current_app).provider.name
    csp = CSP_TWILIO if twilio == "twilio" else CSP
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def build_app(settings: Settings | None = None, **kwargs: Any) -> Flask:
    """The softphone app; ``kwargs`` go to :func:`talkbox.web.create_app`."""
    app = create_app(settings, **kwargs)
    app.register_blueprint(softphone)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="talkbox softphone")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    serve(build_app(), args.host, args.port)


if __name__ == "__main__":
    main()
