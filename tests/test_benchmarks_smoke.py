"""The benchmark suite runs (tiny sizes), so it cannot rot. No timing is asserted here."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.__main__ import main


def test_benchmarks_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert main(["--smoke", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    names = {f["name"] for f in report["figures"]}
    assert {
        "reports applied/s (memory)",
        "reports applied/s (sqlite)",
        "talkbox --help wall time",
        "local call: click to both connected (Chromium, median)",  # NaN without Chromium
    } <= names
    for figure in report["figures"]:
        assert math.isnan(figure["value"]) or figure["value"] > 0
