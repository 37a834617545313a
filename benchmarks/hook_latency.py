"""Hook-call latency over the scenario corpus: p50 / p95 / max per call, prefetch mode.

    .venv/bin/python benchmarks/hook_latency.py                      # in-process (the app without HTTP)
    .venv/bin/python benchmarks/hook_latency.py --url http://127.0.0.1:8080 --rounds 5
    .venv/bin/python benchmarks/hook_latency.py fhir-fixtures/scenarios/realistic     # some scenarios only

Numbers are recorded in docs/performance.md; this is a measurement, not a test (nothing fails on speed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from cpt64640_cds.tools.fhirserver import FixtureStore
from cpt64640_cds.tools.hook_requests import answer_prefetch
from cpt64640_cds.tools.replay import InProcess, OverHttp
from cpt64640_cds.tools.scenarios import discover

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("paths", nargs="*", type=Path, default=[ROOT / "fhir-fixtures" / "scenarios"])
    args = parser.parse_args()
    target = (
        OverHttp(args.url)
        if args.url
        else InProcess({"database_url": "sqlite://", "log_level": "WARNING", "auth": "off"})
    )
    services = {s["hook"]: s for s in target.discover()}
    calls = []
    for scenario in discover(args.paths):
        service = services[scenario.request["hook"]]
        body = dict(scenario.request)
        body["prefetch"] = answer_prefetch(service["prefetch"], body["context"], FixtureStore(scenario.resources))
        calls.append((service["id"], body))
    target.call(*calls[0])  # warm up: first-call imports and caches
    timings = []
    for _ in range(args.rounds):
        for service_id, body in calls:
            started = time.perf_counter()
            status, _ = target.call(service_id, body)
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{len(timings)} calls ({len(calls)} scenarios x {args.rounds}): "
        f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
