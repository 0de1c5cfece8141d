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

from flask import Blueprint, Flask, Response, send_from_directory

from talkbox.config import Settings
from talkbox.web import create_app, serve

STATIC = Path(__file__).resolve().parent / "static"

#: The page loads only its own scripts and styles and talks only to its own origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self' blob: mediastream:; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

softphone = Blueprint("softphone", __name__, static_folder=str(STATIC), static_url_path="/static")


@softphone.get("/")
def index() -> Response:
    return send_from_directory(STATIC, "index.html")


@softphone.get("/phone")
def simulated_phone() -> Response:
    """A page that acts as a telephone number (a labelled simulation, local provider only)."""
    return send_from_directory(STATIC, "phone.html")


@softphone.after_app_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
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
