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


def main() -> None:
    cli()
