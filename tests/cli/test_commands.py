"""The commands that need no call backend: users, token, providers, doctor, serve, help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import jwt
import pytest
from click.testing import CliRunner, Result

from talkbox.cli import cli
from tests.twilio_sim import ACCOUNT_SID, API_KEY, API_SECRET, APP_SID, AUTH_TOKEN, CALLER_ID

PASSWORD = "correct-horse-battery"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    """A local-provider configuration with its own SQLite store; nothing from the host."""
    names = [
        "TALKBOX_SERVER",
        "TALKBOX_API_TOKEN",
        "TALKBOX_PROVIDER",
        "TALKBOX_PUBLIC_URL",
        "TALKBOX_SECRET_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
        "TWILIO_TWIML_APP_SID",
        "TWILIO_CALLER_ID",
    ]
    values: dict[str, Any] = dict.fromkeys(names)
    values["TALKBOX_STORE"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return values


@pytest.fixture
def twilio_env(env: dict[str, Any]) -> dict[str, Any]:
    return env | {
        "TALKBOX_PROVIDER": "twilio",
        "TALKBOX_PUBLIC_URL": "https://talkbox.example.com",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
        "TWILIO_TWIML_APP_SID": APP_SID,
        "TWILIO_CALLER_ID": CALLER_ID,
    }


def run(env: dict[str, Any], *args: str, **kw: Any) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, **kw)


def test_users_add_passwd_list_token_remove(env: dict[str, Any]) -> None:
    assert run(env, "users", "add", "alice", "--password", PASSWORD).output == "user alice saved\n"
    prompted = run(env, "users", "add", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    again = run(env, "users", "add", "alice", "--password", PASSWORD)
    assert (again.exit_code, again.output) == (
        2,
        "error: user 'alice' already exists (hint: use --replace to set a new password)\n",
    )
    weak = run(env, "users", "add", "carol", "--password", "short")
    assert (weak.exit_code, weak.output) == (
        2,
        "error: a password needs at least 8 characters (hint: choose a longer password)\n",
    )
    bad_name = run(env, "users", "add", "b@d", "--password", PASSWORD)
    assert bad_name.exit_code == 2

    assert run(env, "users", "list").output == "alice\nbob\n"
    listed = run(env, "users", "list", "--json").output
    assert '"name":"alice"' in listed

    changed = run(env, "users", "passwd", "alice", "--password", "another-long-one")
    assert changed.output == "password of alice changed\n"
    nobody = run(env, "users", "passwd", "zed", "--password", PASSWORD)
    assert (nobody.exit_code, nobody.output) == (
        1,
        "error: no user 'zed' (hint: list them with 'talkbox users list')\n",
    )

    token = run(env, "users", "token", "alice")
    assert token.exit_code == 0
    assert token.output.startswith("tbk_")
    assert run(env, "users", "token", "zed").exit_code == 1

    assert run(env, "users", "remove", "bob").output == "user bob removed\n"
    assert run(env, "users", "remove", "bob").exit_code == 1
    assert run(env, "users", "list").output == "alice\n"


def test_providers(env: dict[str, Any]) -> None:
    assert run(env, "providers").output == "local\ntwilio\n"
    assert run(env, "providers", "--json").output == '["local","twilio"]\n'


def test_token_for_twilio_is_a_voice_access_token(twilio_env: dict[str, Any]) -> None:
    result = run(twilio_env, "token", "alice", "--ttl", "600")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), API_SECRET, algorithms=["HS256"])
    assert claims["grants"]["identity"] == "alice"
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == APP_SID
    assert claims["exp"] - claims["nbf"] in (600, 601)
    as_json = run(twilio_env, "token", "alice", "--json")
    assert '"identity":"alice"' in as_json.output


def test_token_errors(env: dict[str, Any], twilio_env: dict[str, Any]) -> None:
    local = run(env, "token", "alice")
    assert local.exit_code == 2
    assert local.output.startswith("error: the local provider signs no browser credentials")
    bad = run(twilio_env, "token", "b@d")
    assert bad.exit_code == 2
    assert "is not a valid endpoint" in bad.output
    assert run(twilio_env, "token", "alice", "--ttl", "5").exit_code == 2


def test_doctor_local(env: dict[str, Any]) -> None:
    result = run(env, "doctor")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "ok    settings   environment read"
    assert lines[1] == "ok    provider   local (installed: local, twilio)"
    assert lines[2].startswith("warn  store      sqlite:///")
    assert lines[2].endswith("reachable, no users -> fix: talkbox users add NAME")
    assert lines[3].startswith("warn  secret     TALKBOX_SECRET_KEY is not set")


def test_doctor_twilio_and_failures(twilio_env: dict[str, Any], env: dict[str, Any]) -> None:
    ok = run(twilio_env | {"TALKBOX_SECRET_KEY": "k" * 32}, "doctor")
    assert ok.exit_code == 0, ok.output
    assert "ok    twilio     account AC0123... credentials well-formed" in ok.output
    assert "ok    public-url webhooks at https://talkbox.example.com/twilio/..." in ok.output

    sparse = run(twilio_env | {"TWILIO_API_KEY": None, "TWILIO_API_SECRET": None}, "doctor")
    assert "warn  twilio     no API key pair" in sparse.output

    bad_sid = run(twilio_env | {"TWILIO_ACCOUNT_SID": "AC123"}, "doctor")
    assert bad_sid.exit_code == 1
    assert bad_sid.output == (
        "FAIL  settings   TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits"
        " -> fix: set or correct that environment variable\n"
    )
    bad_store = run(env | {"TALKBOX_STORE": "nosuch://x"}, "doctor", "--json")
    assert bad_store.exit_code == 1
    assert '"level":"FAIL","name":"store"' in bad_store.output

    down = run(env, "--server", "http://127.0.0.1:9", "doctor")
    assert down.exit_code == 1
    assert "FAIL  server     cannot reach the talkbox server" in down.output


def test_serve_refuses_a_public_address_without_users_and_secret(env: dict[str, Any]) -> None:
    result = run(env, "serve", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert result.output == (
        "error: refusing to serve on 0.0.0.0: TALKBOX_SECRET_KEY is not set and the store "
        f"{env['TALKBOX_STORE']} has no users (hint: add users with 'talkbox users add NAME' "
        "and set TALKBOX_SECRET_KEY (e.g. openssl rand -hex 32), or serve on 127.0.0.1)\n"
    )
    run(env, "users", "add", "alice", "--password", PASSWORD)
    still = run(env, "serve", "--host", "0.0.0.0")
    assert still.exit_code == 2
    assert "TALKBOX_SECRET_KEY is not set (hint" in still.output


def test_serve_runs_the_app(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        "talkbox.web.app.serve", lambda app, host, port, demo: calls.append((app, host, port, demo))
    )
    result = run(env | {"TALKBOX_SECRET_KEY": "k" * 32}, "serve", "--port", "8123", "--no-demo")
    assert result.exit_code == 0, result.output
    assert "talkbox: serving http://127.0.0.1:8123/ (API under /api)" in result.output
    assert "export TALKBOX_API_TOKEN=$(talkbox users token NAME)" in result.output
    ((app, host, port, demo),) = calls
    assert (host, port, demo) == ("127.0.0.1", 8123, False)
    assert "talkbox_api.dial" in app.view_functions
    app.extensions["talkbox"].close()

    public = env | {"TALKBOX_SECRET_KEY": "k" * 32}
    run(public, "users", "add", "alice", "--password", PASSWORD)
    assert run(public, "serve", "--host", "0.0.0.0").exit_code == 0
    assert calls[-1][1:] == ("0.0.0.0", 8000, True)
    calls[-1][0].extensions["talkbox"].close()


def test_serve_mounts_the_softphone_from_a_checkout(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    apps: list[Any] = []
    monkeypatch.setattr("talkbox.web.app.serve", lambda app, *args, **kw: apps.append(app))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # the checkout
    result = run(env, "serve")
    assert result.exit_code == 0, result.output
    assert "API and event stream only" not in result.output
    (app,) = apps
    assert "softphone.index" in app.view_functions
    app.extensions["talkbox"].close()


def test_serve_mounts_the_twilio_webhooks(
    twilio_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    apps: list[Any] = []
    monkeypatch.setattr("talkbox.web.app.serve", lambda app, *args, **kw: apps.append(app))
    result = run(twilio_env, "serve")
    assert result.exit_code == 0, result.output
    (app,) = apps
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/twilio/voice", "/twilio/call-status", "/api/calls"} <= routes
    app.extensions["talkbox"].close()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    if not isinstance(command, click.Group):
        assert "Example" in result.output, path
        assert f"talkbox {' '.join(path)}" in result.output or path == ("users", "token")


def test_every_option_has_an_environment_variable(env: dict[str, Any]) -> None:
    """``auto_envvar_prefix``: TALKBOX_<COMMAND>_<OPTION>, e.g. a password for scripts."""
    added = run(env | {"TALKBOX_USERS_ADD_PASSWORD": PASSWORD}, "users", "add", "alice")
    assert (added.exit_code, added.output) == (0, "user alice saved\n")
    listed = run(env | {"TALKBOX_JSON": "1"}, "users", "list")
    assert listed.output.startswith('[{"name":"alice"')
    bad = run(env | {"TALKBOX_CALLS_LIMIT": "0"}, "calls", "--all")
    assert bad.exit_code == 2
    assert "Invalid value for '--limit'" in bad.output


def test_version() -> None:
    from talkbox import __version__

    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.output) == (0, f"talkbox, version {__version__}\n")


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(cli, ["dial", "alice"]).exit_code == 2
    assert CliRunner().invoke(cli, ["nosuch"]).exit_code == 2
    assert CliRunner().invoke(cli, ["calls", "--limit", "0"]).exit_code == 2


def test_completion_script() -> None:
    result = CliRunner().invoke(
        cli, [], prog_name="talkbox", env={"_TALKBOX_COMPLETE": "bash_source"}
    )
    assert "_talkbox_completion" in result.output


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from talkbox.cli import main\n"
        "heavy = {'twilio', 'flask', 'phonenumbers', 'sqlite3', 'werkzeug', 'requests'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("bad", ["+1415555", "client:al ice", "sip:bob@example.com"])
def test_a_bad_number_is_refused_before_any_request(env: dict[str, Any], bad: str) -> None:
    """Exit 2 with the reason, even when the server is down: nothing is sent."""
    result = run(env, "--server", "http://127.0.0.1:9", "dial", "alice", bad)
    assert result.exit_code == 2
    assert "is not a valid endpoint" in result.output
    assert "cannot reach" not in result.output
