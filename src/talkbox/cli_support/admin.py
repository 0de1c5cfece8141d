"""What the administration commands do (``serve``, ``users ...``, ``token``, ``doctor``);
:mod:`talkbox.cli` only declares them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from talkbox.cli_support.calls import emit_json
from talkbox.cli_support.errors import CliError, cli_error
from talkbox.config import Settings
from talkbox.errors import ConfigError, Conflict
from talkbox.store import open_store
from talkbox.web.auth import Accounts


# -- server --------------------------------------------------------------------------------
def serve(host: str, port: int, demo: bool) -> None:
    from talkbox.web import app as web

    settings = Settings.from_env()
    if not web.is_loopback(host):
        refuse_public_without_users_and_secret(host, settings.store)
    app = web.create_app(settings)
    if settings.provider == "twilio":
        mount_twilio_webhooks(app, settings)
    softphone = find_softphone()
    if softphone is not None:
        app.register_blueprint(softphone)
    else:
        click.echo(
            "talkbox: API and event stream only; for the softphone page run "
            "'python examples/web/app.py' in a talkbox checkout"
        )
    click.echo(f"talkbox: serving http://{host}:{port}/ (API under /api)")
    click.echo(
        "talkbox: log in with a user's name and password; API clients: "
        "export TALKBOX_API_TOKEN=$(talkbox users token NAME)"
    )
    web.serve(app, host, port, demo=demo)


def refuse_public_without_users_and_secret(host: str, store_url: str) -> None:
    """Off loopback, anyone who can reach the port can try to log in: there must be real
    users to log in as, and a fixed secret key (else every restart logs everybody out, and a
    random key per process breaks several workers)."""
    missing = []
    if not os.environ.get("TALKBOX_SECRET_KEY"):
        missing.append("TALKBOX_SECRET_KEY is not set")
    store = open_store(store_url)
    try:
        if not store.users():
            missing.append(f"the store {store_url} has no users")
    finally:
        store.close()
    if missing:
        raise cli_error(
            f"refusing to serve on {host}: " + " and ".join(missing),
            "add users with 'talkbox users add NAME' and set TALKBOX_SECRET_KEY "
            "(e.g. openssl rand -hex 32), or serve on 127.0.0.1",
            2,
        )


def mount_twilio_webhooks(app: Any, settings: Settings) -> None:
    """Twilio's webhooks beside the API, unless the app factory mounted them already."""
    if "talkbox_twilio" in app.blueprints:
        return
    from talkbox.providers.twilio import TwilioProvider
    from talkbox.web import twilio_blueprint
    from talkbox.web.app import talkbox_of

    tb = talkbox_of(app)
    assert isinstance(tb.provider, TwilioProvider)
    app.register_blueprint(twilio_blueprint(tb.switchboard, tb.provider, settings))


def find_softphone() -> Any:
    """The example softphone's blueprint, when ``examples`` is importable (a checkout on the
    path); never loaded from an arbitrary working directory."""
    try:
        from examples.web.app import softphone
    except ImportError:
        return None
    return softphone


# -- users ---------------------------------------------------------------------------------
@contextmanager
def accounts() -> Iterator[Accounts]:
    store = open_store(Settings.from_env().store)
    try:
        yield Accounts(store)
    finally:
        store.close()


def no_user(name: str) -> NoReturn:
    raise CliError(f"no user {name!r}", "list them with 'talkbox users list'")


def add_user(name: str, password: str, replace: bool) -> None:
    with accounts() as acc:
        try:
            acc.create_user(name, password, replace=replace)
        except Conflict as exc:  # the name is taken: the input's fault, as for a usage error
            raise cli_error(str(exc), "use --replace to set a new password", 2) from None
    click.echo(f"user {name} saved")


def change_password(name: str, password: str) -> None:
    with accounts() as acc:
        if acc.store.get_user(name) is None:
            no_user(name)
        acc.create_user(name, password, replace=True)
    click.echo(f"password of {name} changed")


def list_users(as_json: bool) -> None:
    with accounts() as acc:
        listed = acc.store.users()
    if as_json:
        emit_json([{"name": u.name, "created_at": u.created_at} for u in listed])
        return
    for user in listed:
        click.echo(user.name)


def remove_user(name: str) -> None:
    with accounts() as acc:
        if not acc.store.delete_user(name):
            no_user(name)
    click.echo(f"user {name} removed")


def issue_token(name: str, label: str) -> None:
    with accounts() as acc:
        if acc.store.get_user(name) is None:
            no_user(name)
        _token, secret = acc.issue_token(name, label)
    click.echo(secret)


# -- credentials and checks ----------------------------------------------------------------
def browser_token(identity: str, ttl: int | None, as_json: bool) -> None:
    from talkbox.providers import load

    settings = Settings.from_env()
    factory = getattr(load(settings.provider), "from_settings", None)
    if factory is None:
        raise ConfigError(
            f"the {settings.provider} provider signs no browser credentials: "
            "browsers log in to the server with a user name and password"
        )
    creds = factory(settings).credentials(identity, ttl)
    if as_json:
        emit_json(
            {
                "provider": creds.provider,
                "identity": creds.identity,
                "token": creds.token,
                "expires_at": creds.expires_at,
            }
        )
        return
    click.echo(creds.token)


def doctor(server: str | None, api_token: str | None, timeout: float, as_json: bool) -> None:
    from talkbox.cli_support.doctor import run_checks

    checks = run_checks(server, api_token, timeout)
    if as_json:
        emit_json([c.as_dict() for c in checks])
    else:
        for check in checks:
            click.echo(check.line())
    if any(c.level == "FAIL" for c in checks):
        sys.exit(1)
