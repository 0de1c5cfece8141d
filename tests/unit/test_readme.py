"""The README's promises: its example is the real, running file; its catalogue is complete."""

from __future__ import annotations

import re
import runpy
import textwrap
from pathlib import Path

import pytest

from talkbox import events as ev

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_example_is_the_example_file_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [b.split("```", 1)[0] for b in README.split("```python\n")[1:]]
    (snippet,) = [b for b in blocks if "PrintingProvider()" in b]
    source = (ROOT / "examples" / "library_example.py").read_text()
    assert textwrap.indent(snippet, "    ").replace("    \n", "\n") in source
    runpy.run_path(str(ROOT / "examples" / "library_example.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip().endswith("history: client:alice -> +14155552671: busy")
    assert "event #11: conference-ended" in out


def test_every_event_is_in_the_catalogue() -> None:
    documented = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", README))
    assert set(ev.EVENT_TYPES) <= documented


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npytest\n" in README
    assert re.search(r"^\s*pytest\s*$", ci, re.MULTILINE)
