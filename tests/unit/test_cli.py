from __future__ import annotations

from click.testing import CliRunner

from talkbox import __version__
from talkbox.cli import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"talkbox, version {__version__}"


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "providers" in result.output
