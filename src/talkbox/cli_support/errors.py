"""How the CLI reports failures: one line on stderr, ``error: <cause> (hint: <what to do>)``,
and exit code 1 (runtime or provider) or 2 (bad usage or input, as click's usage errors)."""

from __future__ import annotations

from typing import Any

import click

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
    """A runtime failure (exit code 1), shown as one line with its hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def format_message(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class CliInputError(CliError):
    """The command line or its input is at fault (exit code 2)."""

    exit_code = 2


def cli_error(message: str, hint: str | None = None, exit_code: int = 1) -> CliError:
    return (CliInputError if exit_code == 2 else CliError)(message, hint)


def translate(exc: Exception) -> CliError:
    """A talkbox error (or a weak password) as the CLI reports it: input errors exit 2."""
    hint = getattr(exc, "hint", None)
    if hint is None:
        hint = next((HINTS[c.__name__] for c in type(exc).__mro__ if c.__name__ in HINTS), None)
    code = 2 if getattr(exc, "input_error", False) or type(exc).__name__ == "WeakPassword" else 1
    return cli_error(" ".join(str(exc).split()), hint, code)
