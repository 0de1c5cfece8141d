"""The ``talkbox`` command: its options, arguments and help, and nothing else.

What each command does lives in :mod:`talkbox.cli_support` (``calls``, ``admin``, the two
backends); a command here parses its arguments and hands over. That keeps ``talkbox --help``
and shell completion fast: they import click and this module only, no twilio, flask,
phonenumbers or sqlite3, and (where bytecode is not cached) compile only this file.

Exit codes: 0 ok, 1 a runtime or provider error, 2 bad usage or input. Errors are one line on
stderr: the cause, then a hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from talkbox import __version__

if TYPE_CHECKING:
    from talkbox.cli_support.backends import Backend


class TalkboxGroup(click.Group):
    """Turns the library's errors into one-line CLI errors for every command below it."""

    def invoke(self, ctx: click.Context) -> Any:
        from talkbox.errors import TalkboxError

        try:
            return super().invoke(ctx)
        except TalkboxError as exc:
            from talkbox.cli_support.errors import translate

            raise translate(exc) from None
        except ValueError as exc:
            if type(exc).__name__ != "WeakPassword":
                raise
            from talkbox.cli_support.errors import translate

            raise translate(exc) from None


class Options:
    """The group's options, shared by every command (``pass_options``)."""

    def __init__(self, server: str | None, api_token: str | None, timeout: float) -> None:
        self.server = server
        self.api_token = api_token
        self.timeout = timeout

    def backend(self) -> Backend:
        from talkbox.cli_support.backends import open_backend

        return open_backend(self.server, self.api_token, self.timeout)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # click.version_option looks up translations when it is declared: too slow for --help.
    if value and not ctx.resilient_parsing:
        click.echo(f"talkbox, version {__version__}")
        ctx.exit()


pass_options = click.make_pass_decorator(Options)
json_option = click.option(
    "--json", "as_json", is_flag=True, envvar="TALKBOX_JSON", help="Print JSON for scripts."
)

COMPLETION = """\b
Shell completion (bash; zsh and fish alike with zsh_source / fish_source):
  eval "$(_TALKBOX_COMPLETE=bash_source talkbox)"
"""


@click.group(
    cls=TalkboxGroup,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "TALKBOX"},
    epilog=COMPLETION,
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--server",
    envvar="TALKBOX_SERVER",
    metavar="URL",
    help="A running talkbox server (default: Twilio directly when TWILIO_* is set, "
    "else http://127.0.0.1:8000).",
)
@click.option(
    "--api-token",
    envvar="TALKBOX_API_TOKEN",
    metavar="TOKEN",
    help="API token for the server ('talkbox users token NAME' makes one).",
)
@click.option(
    "--timeout",
    envvar="TALKBOX_TIMEOUT",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the server.",
)
@click.pass_context
def cli(ctx: click.Context, server: str | None, api_token: str | None, timeout: float) -> None:
    """Browser telephony: calls and conferences over Twilio or the embedded local provider.

    Every option can also be set in the environment: TALKBOX_<OPTION> for the options above
    (TALKBOX_SERVER, TALKBOX_API_TOKEN), TALKBOX_<COMMAND>_<OPTION> for a command's,
    TALKBOX_JSON=1 for --json everywhere.

    \b
    Examples:
      talkbox serve                       # the server, the softphone and demo users
      export TALKBOX_API_TOKEN=$(talkbox users token alice)
      talkbox dial alice bob --wait       # alice's devices ring, then bob's
      talkbox calls --json | jq .
    """
    ctx.obj = Options(server, api_token, timeout)


# -- calls -------------------------------------------------------------------------------------
@cli.command()
@click.argument("from_", metavar="FROM")
@click.argument("to")
@click.option("--wait", is_flag=True, help="Show progress until the call ends (Ctrl-C: hang up).")
@click.option(
    "--interval",
    type=click.FloatRange(0.01),
    default=0.5,
    show_default=True,
    help="Seconds between progress checks.",
)
@json_option
@pass_options
def dial(options: Options, from_: str, to: str, wait: bool, interval: float, as_json: bool) -> None:
    """Call TO from FROM: FROM's leg is placed first, TO is dialled once FROM answered.

    FROM and TO are user names (alice), client identities (client:alice) or telephone
    numbers (+14155550100). Through a server, FROM must be the API token's user (or "-").

    \b
    Examples:
      talkbox dial alice bob
      talkbox dial alice +14155550100 --wait
      talkbox --server http://127.0.0.1:8000 dial - carol --json
    """
    from talkbox.cli_support import calls as run

    run.dial(options.backend(), from_, to, wait, interval, as_json)


@cli.command()
@click.argument("call")
@pass_options
def hangup(options: Options, call: str) -> None:
    """Hang up CALL (a call_... id; cancels it if it has not been answered).

    \b
    Example:
      talkbox hangup call_6f1c2a...
    """
    options.backend().hangup(call)
    click.echo(f"hang-up requested for {call}")


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Ended calls (history), newest first.")
@click.option(
    "--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="With --all."
)
@json_option
@pass_options
def calls(options: Options, show_all: bool, limit: int, as_json: bool) -> None:
    """List live calls, or with --all the call history.

    \b
    Examples:
      talkbox calls
      talkbox calls --all --limit 5
      talkbox calls --json | jq -r '.[].call_id'
    """
    from talkbox.cli_support import calls as run

    run.list_calls(options.backend(), show_all, limit, as_json)


@cli.command()
@click.argument("call")
@json_option
@pass_options
def show(options: Options, call: str, as_json: bool) -> None:
    """Show a call (call_...) or a room (conf_...) with every leg.

    \b
    Examples:
      talkbox show call_6f1c2a...
      talkbox show conf_0b7d9e... --json | jq '.legs[] | .status'
    """
    from talkbox.cli_support import calls as run

    run.show(options.backend(), call, as_json)


# -- conferences -------------------------------------------------------------------------------
@cli.group()
def conference() -> None:
    """Control rooms: add people, mute, hold, remove, end.

    A room is named by its conf_... id or by any of its calls; a person in it by their call
    (call_...), as 'talkbox conference list' shows.
    """


@conference.command("list")
@json_option
@pass_options
def conference_list(options: Options, as_json: bool) -> None:
    """List live rooms with their legs.

    \b
    Example:
      talkbox conference list --json | jq '.[].legs | length'
    """
    from talkbox.cli_support import calls as run

    run.list_rooms(options.backend(), as_json)


@conference.command("add")
@click.argument("room")
@click.argument("to")
@json_option
@pass_options
def conference_add(options: Options, room: str, to: str, as_json: bool) -> None:
    """Dial TO into ROOM (conf_... or one of its calls): a call becomes a conference.

    \b
    Examples:
      talkbox conference add call_6f1c2a... carol
      talkbox conference add conf_0b7d9e... +14155550100
    """
    from talkbox.cli_support import calls as run

    run.add(options.backend(), room, to, as_json)


def _leg_command(name: str, summary: str) -> None:
    example = f"\b\nExample:\n  talkbox conference {name} call_6f1c2a..."

    @conference.command(name, help=f"{summary}; CALL is one person's leg in a room.\n\n{example}")
    @click.argument("call")
    @pass_options
    def command(options: Options, call: str) -> None:
        from talkbox.cli_support import calls as run

        run.leg_command(options.backend(), name, call)


_leg_command("mute", "Mute CALL")
_leg_command("unmute", "Unmute CALL")
_leg_command("hold", "Put CALL on hold (they hear music)")
_leg_command("unhold", "Take CALL off hold")
_leg_command("remove", "Take CALL out of the room (the leg ends)")


@conference.command("end")
@click.argument("room")
@pass_options
def conference_end(options: Options, room: str) -> None:
    """End ROOM (conf_... or one of its calls) for everyone.

    \b
    Example:
      talkbox conference end conf_0b7d9e...
    """
    from talkbox.cli_support import calls as run

    run.end(options.backend(), room)


@cli.command()
@click.argument("call")
@click.argument("to", required=False)
@click.option("--warm", is_flag=True, help="Talk to TO first; the others wait on hold.")
@click.option("--complete", is_flag=True, help="Finish CALL's warm transfer: you leave.")
@click.option("--cancel", is_flag=True, help="Abandon CALL's warm transfer: TO is hung up.")
@json_option
@pass_options
def transfer(
    options: Options,
    call: str,
    to: str | None,
    warm: bool,
    complete: bool,
    cancel: bool,
    as_json: bool,
) -> None:
    """Hand your CALL's room to TO. Cold by default: you leave at once.

    \b
    Examples:
      talkbox transfer call_6f1c2a... carol            # cold
      talkbox transfer call_6f1c2a... carol --warm     # talk to carol first, then:
      talkbox transfer call_6f1c2a... --complete       # ... or --cancel
    """
    from talkbox.cli_support import calls as run

    if complete and cancel:
        raise click.UsageError("--complete and --cancel exclude each other")
    if (complete or cancel) == (to is not None):
        raise click.UsageError("give TO to start a transfer, or --complete/--cancel without it")
    if to is None:
        run.finish_transfer(options.backend(), call, complete)
    else:
        run.transfer(options.backend(), call, to, warm, as_json)


# -- events ------------------------------------------------------------------------------------
@cli.command()
@json_option
@click.option("--count", type=click.IntRange(1), help="Stop after this many events.")
@click.option("--until", metavar="TYPE", help="Stop after the first event of TYPE.")
@click.option(
    "--device",
    metavar="ID",
    help="Watch as this device of yours (8-64 letters, digits, - or _): it is then rung and "
    "counts as online. Default: watch without being a device.",
)
@pass_options
def watch(
    options: Options, as_json: bool, count: int | None, until: str | None, device: str | None
) -> None:
    """Print call events live, one line each, until Ctrl-C.

    Through a server: the API token's user's events, without counting as one of their
    devices (nothing rings it; --device makes it one). Directly on Twilio: what polling Twilio
    finds, every 2 seconds.

    \b
    Examples:
      talkbox watch
      talkbox watch --json | jq -c 'select(.type == "conference-ended")'
      talkbox watch --until conference-ended   # returns when a call ends
    """
    from talkbox.cli_support import calls as run

    run.watch(options.backend(), as_json, count, until, device)


# -- server ------------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="On loopback, create alice, bob and carol with fresh passwords.",
)
def serve(host: str, port: int, demo: bool) -> None:
    """Run the talkbox server: JSON API, event stream, Twilio webhooks when Twilio is the
    provider, and the softphone page when run from a checkout with examples/web.

    Any address but loopback needs real users ('talkbox users add') and TALKBOX_SECRET_KEY.

    \b
    Examples:
      talkbox serve
      TALKBOX_SECRET_KEY=$(openssl rand -hex 32) talkbox serve --host 0.0.0.0 --port 8080
    """
    from talkbox.cli_support import admin

    admin.serve(host, port, demo)


# -- users and credentials ---------------------------------------------------------------------
@cli.group()
def users() -> None:
    """Manage the users who may log in to the web API (kept in TALKBOX_STORE)."""


@users.command("add")
@click.argument("name")
@click.password_option(help="Prompted for (twice) when not given.")
@click.option("--replace", is_flag=True, help="Set a new password if the user exists.")
def users_add(name: str, password: str, replace: bool) -> None:
    """Create user NAME (reachable as client:NAME) or, with --replace, reset their password.

    \b
    Example:
      talkbox users add alice
    """
    from talkbox.cli_support import admin

    admin.add_user(name, password, replace)


@users.command("passwd")
@click.argument("name")
@click.password_option(help="Prompted for (twice) when not given.")
def users_passwd(name: str, password: str) -> None:
    """Set a new password for user NAME.

    \b
    Example:
      talkbox users passwd alice
    """
    from talkbox.cli_support import admin

    admin.change_password(name, password)


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """List the users.

    \b
    Example:
      talkbox users list --json | jq -r '.[].name'
    """
    from talkbox.cli_support import admin

    admin.list_users(as_json)


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete user NAME and their API tokens.

    \b
    Example:
      talkbox users remove alice
    """
    from talkbox.cli_support import admin

    admin.remove_user(name)


@users.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
def users_token(name: str, label: str) -> None:
    """Make an API token for user NAME and print it (shown once; the store keeps a digest).

    \b
    Example:
      export TALKBOX_API_TOKEN=$(talkbox users token alice)
    """
    from talkbox.cli_support import admin

    admin.issue_token(name, label)


@cli.command()
@click.argument("identity")
@click.option("--ttl", type=click.IntRange(60, 24 * 3600), help="Seconds the token is valid.")
@json_option
def token(identity: str, ttl: int | None, as_json: bool) -> None:
    """Print browser credentials for IDENTITY from the configured provider (a Twilio Voice
    access token), for scripts that hand them to a page they serve.

    \b
    Examples:
      talkbox token alice
      talkbox token alice --ttl 600 --json | jq -r .expires_at
    """
    from talkbox.cli_support import admin

    admin.browser_token(identity, ttl, as_json)


@cli.command()
@json_option
def providers(as_json: bool) -> None:
    """List the installed provider plug-ins (the talkbox.providers entry points).

    \b
    Example:
      talkbox providers
    """
    from talkbox.cli_support.calls import emit_json
    from talkbox.providers import available

    names = available()
    if as_json:
        emit_json(names)
        return
    if not names:
        click.echo("no providers installed")
    for name in names:
        click.echo(name)


@cli.command()
@json_option
@pass_options
def doctor(options: Options, as_json: bool) -> None:
    """Check the configuration, one line per check with a fix; exit 1 if one fails.

    \b
    Example:
      talkbox doctor
    """
    from talkbox.cli_support import admin

    admin.doctor(options.server, options.api_token, options.timeout, as_json)


def main() -> None:
    cli()
