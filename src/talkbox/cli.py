"""The ``talkbox`` command. Heavy imports (twilio, flask) stay inside commands so that
``talkbox --help`` stays fast."""

from __future__ import annotations

import click

from talkbox import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="talkbox")
def cli() -> None:
    """Browser telephony: calls and conferences over Twilio or the embedded local provider."""


@cli.command()
def providers() -> None:
    """List the installed provider plug-ins (the talkbox.providers entry points)."""
    from talkbox.providers import available

    names = available()
    if not names:
        click.echo("no providers installed")
    for name in names:
        click.echo(name)


@cli.group()
def users() -> None:
    """Manage the users who may log in to the web API (kept in TALKBOX_STORE)."""


def _accounts() -> object:
    from talkbox.config import Settings
    from talkbox.store import open_store
    from talkbox.web.auth import Accounts

    return Accounts(open_store(Settings.from_env().store))


@users.command("add")
@click.argument("name")
@click.password_option(help="Prompted for (twice) when not given.")
@click.option("--replace", is_flag=True, help="Set a new password if the user exists.")
def users_add(name: str, password: str, replace: bool) -> None:
    """Create user NAME (reachable as client:NAME) or, with --replace, reset their password."""
    from talkbox.errors import TalkboxError
    from talkbox.web.auth import Accounts, WeakPassword

    accounts = _accounts()
    assert isinstance(accounts, Accounts)
    try:
        accounts.create_user(name, password, replace=replace)
    except (TalkboxError, WeakPassword) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"user {name} saved")


@users.command("list")
def users_list() -> None:
    """List the users."""
    from talkbox.web.auth import Accounts

    accounts = _accounts()
    assert isinstance(accounts, Accounts)
    for user in accounts.store.users():
        click.echo(user.name)


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete user NAME and their API tokens."""
    from talkbox.web.auth import Accounts

    accounts = _accounts()
    assert isinstance(accounts, Accounts)
    if not accounts.store.delete_user(name):
        raise click.ClickException(f"no user {name!r}")
    click.echo(f"user {name} removed")


def main() -> None:
    cli()
