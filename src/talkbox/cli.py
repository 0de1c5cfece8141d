"""The ``talkbox`` command.

Commands are thin: parse, call a backend (a talkbox server's API, or Twilio directly; see
:mod:`talkbox.cli_support.backends`), render. Heavy imports (twilio, flask, phonenumbers,
sqlite3) stay inside the commands so that ``talkbox --help`` and completion stay fast, which is
also why this module imports nothing of talkbox at the top but the version.

Exit codes: 0 ok, 1 a runtime or provider error, 2 bad usage or input. Errors are one line on
stderr: the cause, then a hint.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from talkbox import __version__

if TYPE_CHECKING:
    from talkbox.cli_support.backends import Backend, Room
    from talkbox.web.auth import Accounts

#: Hints for talkbox's own errors, by class name (the server's errors bring their own).
HINTS = {
    "InvalidEndpoint": "use a user name, client:NAME or a number such as +14155550100",
    "NotFound": "list live calls with 'talkbox calls'; ids look like call_... or conf_...",
    "IllegalTransition": "check the call's state with 'talkbox show CALL'",
    "Conflict": "check the call's state with 'talkbox show CALL'",
    "ProviderError": "the provider refused; 'talkbox doctor' checks its settings",
    "ConfigError": "'talkbox doctor' lists what is missing",
    "WeakPassword": "choose a longer password",
}


class CliError(click.ClickException):
    """One line on stderr, ``error: <cause> (hint: <what to do>)``, and an exit code."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def format_message(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class CliInputError(CliError):
    """The command line or its input is at fault (exit code 2, as for click's usage errors)."""

    exit_code = 2


def cli_error(message: str, hint: str | None = None, exit_code: int = 1) -> CliError:
    return (CliInputError if exit_code == 2 else CliError)(message, hint)


def translate(exc: Exception) -> CliError:
    """A talkbox error (or a weak password) as the CLI reports it: input errors exit 2."""
    hint = getattr(exc, "hint", None) or HINTS.get(type(exc).__name__)
    if hint is None:
        hint = next((HINTS[c.__name__] for c in type(exc).__mro__ if c.__name__ in HINTS), None)
    code = 2 if getattr(exc, "input_error", False) or type(exc).__name__ == "WeakPassword" else 1
    return cli_error(" ".join(str(exc).split()), hint, code)


class TalkboxGroup(click.Group):
    """Turns the library's errors into :class:`CliError` for every command below it."""

    def invoke(self, ctx: click.Context) -> Any:
        from talkbox.errors import TalkboxError

        try:
            return super().invoke(ctx)
        except TalkboxError as exc:
            raise translate(exc) from None
        except ValueError as exc:
            if type(exc).__name__ != "WeakPassword":
                raise
            raise translate(exc) from None


class Options:
    """What the group's options say, shared by every command (``click.pass_obj``)."""

    def __init__(self, server: str | None, api_token: str | None, timeout: float) -> None:
        self.server = server
        self.api_token = api_token
        self.timeout = timeout

    def backend(self) -> Backend:
        """A server when one is named; else Twilio directly when its credentials are set;
        else the default local server."""
        from talkbox.cli_support.backends import ServerBackend
        from talkbox.client import DEFAULT_SERVER, ServerClient

        if not self.server:
            from talkbox.config import Settings

            settings = Settings.from_env()
            if settings.twilio is not None:
                from talkbox.cli_support.backends import DirectBackend
                from talkbox.cli_support.direct import direct_switchboard

                return DirectBackend(direct_switchboard(settings))
        try:
            client = ServerClient(self.server or DEFAULT_SERVER, self.api_token, self.timeout)
        except ValueError as exc:
            raise cli_error(str(exc), "e.g. --server http://127.0.0.1:8000", 2) from None
        return ServerBackend(client)


pass_options = click.make_pass_decorator(Options)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

COMPLETION = """\b
Shell completion (bash; zsh and fish alike with zsh_source / fish_source):
  eval "$(_TALKBOX_COMPLETE=bash_source talkbox)"
"""


@click.group(
    cls=TalkboxGroup,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "TALKBOX"},
    epilog=COMPLETION,
)
@click.version_option(__version__, prog_name="talkbox")
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
    (TALKBOX_SERVER, TALKBOX_API_TOKEN), TALKBOX_<COMMAND>_<OPTION> for a command's.

    \b
    Examples:
      talkbox serve                       # the server, the softphone and demo users
      export TALKBOX_API_TOKEN=$(talkbox users token alice)
      talkbox dial alice bob --wait       # alice's devices ring, then bob's
      talkbox calls --json | jq .
    """
    ctx.obj = Options(server, api_token, timeout)


def emit_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, separators=(",", ":")))


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
    from talkbox.cli_support.backends import DirectBackend

    backend = options.backend()
    if isinstance(backend, DirectBackend):
        from_, to = _client_if_name(from_), _client_if_name(to)
    room = backend.dial(from_, to)
    if as_json and not wait:
        emit_json(room)
    elif not as_json:
        click.echo(
            f"calling {to} from {from_}: call {room['call_id']} in room {room['conference_id']}"
        )
    if wait:
        follow(backend, room, interval, as_json)
    elif isinstance(backend, DirectBackend):
        # Nobody else will dial the callee once the caller answers: wait until that happened.
        follow(backend, room, interval, as_json=True, until_placed=True, quiet=True)


def _client_if_name(text: str) -> str:
    """A bare user name means that user's browser client (as in the server's API)."""
    text = text.strip()
    if text and ":" not in text and not any(ch.isdigit() for ch in text[:1] + text[-1:]):
        return f"client:{text}"
    return text


def follow(
    backend: Backend,
    room: Room,
    interval: float,
    as_json: bool,
    *,
    until_placed: bool = False,
    quiet: bool = False,
) -> Room:
    """Print each leg's progress until the room ends (or, ``until_placed``, until no leg waits
    to be dialled); Ctrl-C offers to hang up our leg."""
    from talkbox.cli_support import render

    started = time.monotonic()
    seen: dict[str, str] = {}
    my_call = room["call_id"]
    try:
        while True:
            changed = False
            for leg in room["legs"]:
                if seen.get(leg["call_id"]) != leg["status"]:
                    seen[leg["call_id"]] = leg["status"]
                    changed = True
                    if not as_json and not quiet:
                        elapsed = render.duration(time.monotonic() - started)
                        click.echo(
                            f"[{elapsed}] {leg['endpoint']}: {render.status_words(leg['status'])}"
                        )
            if changed and as_json and not quiet:
                emit_json(room)
            if room["status"] == "ended":
                if not as_json:
                    talk = render.duration(render.talk_time(room))
                    click.echo(f"ended: {room['end_reason']}, talk time {talk}")
                return room
            if until_placed and all(leg["status"] != "queued" for leg in room["legs"]):
                return room
            time.sleep(interval)
            backend.poll()
            room = backend.show(my_call)
    except KeyboardInterrupt:
        click.echo("", err=True)
        if click.confirm(f"hang up {my_call}?", default=True, err=True):
            backend.hangup(my_call)
            click.echo(f"hang-up requested for {my_call}", err=True)
        raise click.exceptions.Exit(130) from None


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
    from talkbox.cli_support import render

    backend = options.backend()
    backend.poll()
    if show_all:
        ended = backend.history(limit)
        if as_json:
            emit_json(ended)
            return
        click.echo(render.HISTORY_HEADER)
        for item in ended:
            click.echo(render.history_line(item))
        return
    rooms = backend.live()
    if as_json:
        emit_json(rooms)
        return
    if not rooms:
        click.echo("no live calls")
        return
    click.echo(render.ROOM_HEADER)
    for room in rooms:
        click.echo(render.room_line(room))


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
    from talkbox.cli_support import render

    backend = options.backend()
    backend.poll()
    room = backend.show(call)
    if as_json:
        emit_json(room)
        return
    for line in render.room_block(room):
        click.echo(line)


# -- conferences -------------------------------------------------------------------------------
@cli.group()
def conference() -> None:
    """Control rooms: add people, mute, hold, remove, end.

    A room is named by its conf_... id or by any of its calls; a person in it by their call
    (call_...), as 'talkbox conference list' shows.
    """


def _room_of(backend: Backend, ident: str) -> Room:
    backend.poll()
    return backend.show(ident)


@conference.command("list")
@json_option
@pass_options
def conference_list(options: Options, as_json: bool) -> None:
    """List live rooms with their legs.

    \b
    Example:
      talkbox conference list --json | jq '.[].legs | length'
    """
    from talkbox.cli_support import render

    backend = options.backend()
    backend.poll()
    rooms = backend.live()
    if as_json:
        emit_json(rooms)
        return
    if not rooms:
        click.echo("no live rooms")
    for room in rooms:
        for line in render.room_block(room):
            click.echo(line)


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
    from talkbox.cli_support.backends import DirectBackend

    backend = options.backend()
    if isinstance(backend, DirectBackend):
        to = _client_if_name(to)
    conf_id = _room_of(backend, room)["conference_id"]
    result = backend.add(conf_id, to)
    if as_json:
        emit_json(result)
        return
    click.echo(f"dialling {to} into {conf_id}: call {result['added_call_id']}")


def _leg_command(name: str, summary: str, action: Callable[[Backend, str, str], None]) -> None:
    example = f"\b\nExample:\n  talkbox conference {name} call_6f1c2a..."
    text = f"{summary}; CALL is one person's leg in a room.\n\n{example}"

    @conference.command(name, help=text)
    @click.argument("call")
    @pass_options
    def command(options: Options, call: str) -> None:
        backend = options.backend()
        action(backend, _room_of(backend, call)["conference_id"], call)
        click.echo(f"{name} requested for {call}")


for _name, _summary, _action in [
    ("mute", "Mute CALL", lambda b, r, c: b.mute(r, c, True)),
    ("unmute", "Unmute CALL", lambda b, r, c: b.mute(r, c, False)),
    ("hold", "Put CALL on hold (they hear music)", lambda b, r, c: b.hold(r, c, True)),
    ("unhold", "Take CALL off hold", lambda b, r, c: b.hold(r, c, False)),
    ("remove", "Take CALL out of the room (the leg ends)", lambda b, r, c: b.remove(r, c)),
]:
    _leg_command(_name, _summary, _action)


@conference.command("end")
@click.argument("room")
@pass_options
def conference_end(options: Options, room: str) -> None:
    """End ROOM (conf_... or one of its calls) for everyone.

    \b
    Example:
      talkbox conference end conf_0b7d9e...
    """
    backend = options.backend()
    conf_id = _room_of(backend, room)["conference_id"]
    backend.end(conf_id)
    click.echo(f"end requested for {conf_id}")


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
    from talkbox.cli_support.backends import DirectBackend

    if complete and cancel:
        raise click.UsageError("--complete and --cancel exclude each other")
    if (complete or cancel) == (to is not None):
        raise click.UsageError("give TO to start a transfer, or --complete/--cancel without it")
    backend = options.backend()
    if complete or cancel:
        conf_id = _room_of(backend, call)["conference_id"]
        backend.finish_transfer(conf_id, complete)
        click.echo(f"transfer {'completion' if complete else 'cancel'} requested for {conf_id}")
        return
    assert to is not None
    if isinstance(backend, DirectBackend):
        to = _client_if_name(to)
    room = backend.transfer(call, to, warm)
    if as_json:
        emit_json(room)
        return
    kind = "warm" if warm else "cold"
    click.echo(f"{kind} transfer of {call} to {to}: call {room['target_call_id']}")
    if warm:
        click.echo(f"finish with: talkbox transfer {call} --complete (or --cancel)")


# -- events ------------------------------------------------------------------------------------
@cli.command()
@json_option
@click.option("--count", type=click.IntRange(1), help="Stop after this many events.")
@click.option("--until", "until", metavar="TYPE", help="Stop after the first event of TYPE.")
@click.option(
    "--device",
    metavar="ID",
    help="Device id of the stream (8-64 letters, digits, - or _; default: random).",
)
@pass_options
def watch(
    options: Options, as_json: bool, count: int | None, until: str | None, device: str | None
) -> None:
    """Print call events live, one line each, until Ctrl-C.

    Through a server: the API token's user's events (the stream counts as one of their
    devices). Directly on Twilio: what polling Twilio finds, every 2 seconds.

    \b
    Examples:
      talkbox watch
      talkbox watch --json | jq -c 'select(.type == "conference-ended")'
      talkbox watch --until conference-ended   # returns when a call ends
    """
    from talkbox.cli_support import render

    def show_event(data: dict[str, Any]) -> None:
        if as_json:
            emit_json(data)
        else:
            click.echo(render.event_line(data))
        sys.stdout.flush()

    shown = 0
    try:
        for data in _events(options, device):
            show_event(data)
            shown += 1
            if (count is not None and shown >= count) or data.get("type") == until:
                return
    except KeyboardInterrupt:
        return


def _events(options: Options, device: str | None) -> Iterator[dict[str, Any]]:
    import secrets

    from talkbox.cli_support.backends import DirectBackend, ServerBackend

    backend = options.backend()
    if isinstance(backend, ServerBackend):
        device = device or f"cli-watch-{secrets.token_hex(4)}"
        for message in backend.client.stream(device):
            if message.event in ("call", "presence"):
                yield message.data
        raise CliError("the server closed the event stream", "is it shutting down?")
    assert isinstance(backend, DirectBackend)
    yield from _polled_events(backend)


def _polled_events(backend: Any) -> Iterator[dict[str, Any]]:
    import queue

    from talkbox import events as ev

    found: queue.Queue[dict[str, Any]] = queue.Queue()

    def receiver(sender: object, **kwargs: Any) -> None:
        found.put(ev.to_dict(kwargs["event"]))

    ev.event_published.connect(receiver)  # ``receiver`` lives as long as this generator
    try:
        while True:
            backend.poll()
            while not found.empty():
                yield found.get()
            time.sleep(2.0)
    finally:
        ev.event_published.disconnect(receiver)


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
    import os

    from talkbox.config import Settings
    from talkbox.store import open_store
    from talkbox.web.app import create_app, is_loopback
    from talkbox.web.app import serve as run

    settings = Settings.from_env()
    if not is_loopback(host):
        missing = []
        if not os.environ.get("TALKBOX_SECRET_KEY"):
            missing.append("TALKBOX_SECRET_KEY is not set")
        store = open_store(settings.store)
        try:
            if not store.users():
                missing.append(f"the store {settings.store} has no users")
        finally:
            store.close()
        if missing:
            raise cli_error(
                f"refusing to serve on {host}: " + " and ".join(missing),
                "add users with 'talkbox users add NAME' and set TALKBOX_SECRET_KEY "
                "(e.g. openssl rand -hex 32), or serve on 127.0.0.1",
                2,
            )
    app = create_app(settings)
    if settings.provider == "twilio":
        _mount_twilio_webhooks(app, settings)
    softphone = _softphone()
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
    run(app, host, port, demo=demo)


def _mount_twilio_webhooks(app: Any, settings: Any) -> None:
    from talkbox.providers.twilio import TwilioProvider
    from talkbox.web import twilio_blueprint
    from talkbox.web.app import talkbox_of

    tb = talkbox_of(app)
    assert isinstance(tb.provider, TwilioProvider)
    app.register_blueprint(twilio_blueprint(tb.switchboard, tb.provider, settings))


def _softphone() -> Any:
    try:
        from examples.web.app import softphone
    except ImportError:
        return None
    return softphone


# -- users and credentials ---------------------------------------------------------------------
@cli.group()
def users() -> None:
    """Manage the users who may log in to the web API (kept in TALKBOX_STORE)."""


@contextmanager
def accounts() -> Iterator[Accounts]:
    from talkbox.config import Settings
    from talkbox.store import open_store
    from talkbox.web.auth import Accounts

    store = open_store(Settings.from_env().store)
    try:
        yield Accounts(store)
    finally:
        store.close()


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
    from talkbox.errors import Conflict

    with accounts() as acc:
        try:
            acc.create_user(name, password, replace=replace)
        except Conflict as exc:  # the name is taken: the input's fault, as for a usage error
            raise cli_error(str(exc), "use --replace to set a new password", 2) from None
    click.echo(f"user {name} saved")


@users.command("passwd")
@click.argument("name")
@click.password_option(help="Prompted for (twice) when not given.")
def users_passwd(name: str, password: str) -> None:
    """Set a new password for user NAME.

    \b
    Example:
      talkbox users passwd alice
    """
    with accounts() as acc:
        if acc.store.get_user(name) is None:
            _no_user(name)
        acc.create_user(name, password, replace=True)
    click.echo(f"password of {name} changed")


def _no_user(name: str) -> NoReturn:
    raise CliError(f"no user {name!r}", "list them with 'talkbox users list'")


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """List the users.

    \b
    Example:
      talkbox users list --json | jq -r '.[].name'
    """
    with accounts() as acc:
        listed = acc.store.users()
    if as_json:
        emit_json([{"name": u.name, "created_at": u.created_at} for u in listed])
        return
    for user in listed:
        click.echo(user.name)


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete user NAME and their API tokens.

    \b
    Example:
      talkbox users remove alice
    """
    with accounts() as acc:
        if not acc.store.delete_user(name):
            _no_user(name)
    click.echo(f"user {name} removed")


@users.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
def users_token(name: str, label: str) -> None:
    """Make an API token for user NAME and print it (shown once; the store keeps a digest).

    \b
    Example:
      export TALKBOX_API_TOKEN=$(talkbox users token alice)
    """
    with accounts() as acc:
        if acc.store.get_user(name) is None:
            _no_user(name)
        _token, secret = acc.issue_token(name, label)
    click.echo(secret)


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
    from talkbox.config import Settings
    from talkbox.errors import ConfigError
    from talkbox.providers import load

    settings = Settings.from_env()
    provider_type = load(settings.provider)
    factory = getattr(provider_type, "from_settings", None)
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


@cli.command()
@json_option
def providers(as_json: bool) -> None:
    """List the installed provider plug-ins (the talkbox.providers entry points).

    \b
    Example:
      talkbox providers
    """
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
    from talkbox.cli_support.doctor import run_checks

    checks = run_checks(options.server, options.api_token, options.timeout)
    if as_json:
        emit_json([c.as_dict() for c in checks])
    else:
        for check in checks:
            click.echo(check.line())
    if any(c.level == "FAIL" for c in checks):
        sys.exit(1)


def main() -> None:
    cli()
