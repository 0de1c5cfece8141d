"""Run the benchmarks: ``python -m benchmarks [--smoke] [--json PATH]``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time

from benchmarks import browser, core, serving


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--json", default="benchmarks/results.json", help="where to write JSON")
    args = parser.parse_args(argv)
    started = time.time()
    figures = []
    benches = [core.bench_apply, core.bench_memory, core.bench_cli]
    benches += [serving.bench_webhooks, serving.bench_stream_latency, browser.bench_browser]
    for bench in benches:
        figures += bench(args.smoke)
    print(f"{'measure':58} {'value':>14} {'baseline':>24} {'ratio':>9}  goal")
    for f in figures:
        value = "n/a" if math.isnan(f.value) else f"{f.value:,.1f} {f.unit}"
        base = f"{f.baseline:,.1f} ({f.baseline_name})" if f.baseline else ""
        ratio = f"{f.ratio:.4g}x" if f.ratio else ""
        met = {True: "met", False: "MISSED", None: ""}[f.met]
        print(f"{f.name:58} {value:>14} {base:>24} {ratio:>9}  {f.goal} {met}")
    report = {
        "smoke": args.smoke,
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "seconds": round(time.time() - started, 1),
        "figures": [{**dataclasses.asdict(f), "ratio": f.ratio} for f in figures],
    }
    with open(args.json, "w") as out:
        json.dump(report, out, indent=2, default=str)
    print(f"wrote {args.json} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
