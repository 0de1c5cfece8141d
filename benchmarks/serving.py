"""Benchmarks of the server under gunicorn: signed webhooks per second against a bare route on
the same server, and event latency to subscribed streams with many streams open."""

from __future__ import annotations

import math
import shutil

from benchmarks import load, webhooks
from benchmarks.core import Figure


def bench_webhooks(smoke: bool) -> list[Figure]:
    name = "signed status webhooks/s under gunicorn"
    if shutil.which("wrk") is None:
        return [Figure(name, math.nan, "req/s", goal="needs wrk (Debian package wrk)")]
    hook, bare = webhooks.measure(seconds=2 if smoke else 12, rounds=1 if smoke else 3)
    return [Figure(name, hook, "req/s", bare, "bare Flask route", ">= 0.85x", hook / bare >= 0.85)]


def bench_stream_latency(smoke: bool) -> list[Figure]:
    streams = 10 if smoke else 500
    summary = load.run(
        streams=streams,
        rate=20 if smoke else 100,
        seconds=1 if smoke else 20,
        warmup=0.5 if smoke else 3,
    )
    lost = summary["events_lost"] + summary["errors"]
    p50, p99 = summary["latency_ms_p50"], summary["latency_ms_p99"]
    return [
        Figure(f"webhook -> stream event p50 ({streams} streams)", p50, "ms"),
        Figure(
            f"webhook -> stream event p99 ({streams} streams)",
            p99,
            "ms",
            goal="<= 10 ms, 0 lost",
            met=p99 <= 10 and lost == 0,
        ),
    ]
