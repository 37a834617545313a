"""How a running service answers when the client's FHIR server misbehaves: status and time per fault.

    CDS_AUTH=off PORT=18182 .venv/bin/cpt64640 serve &
    .venv/bin/python benchmarks/fault_latency.py --url http://127.0.0.1:18182 --rounds 5

Each fault gets its own fixture FHIR server (`cpt64640 fhir-server` with fault injection); the hook call
sends no prefetch, so every key is fetched. Numbers are recorded in docs/security.md; this is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path

import requests

from cpt64640_cds.tools.hook_requests import fetching
from cpt64640_cds.tools.processes import free_port, launch_fhir_server

FIXTURES = Path(__file__).resolve().parents[1] / "fhir-fixtures"
REQUEST = json.loads((FIXTURES / "requests" / "order-sign-lfcn-left.json").read_text(encoding="utf-8"))

TOKEN = "fault-latency-token"
FAULTS = {
    "healthy": [],
    "http-500": ["--fail-rate", "1"],
    "malformed-json": ["--malformed-rate", "1"],
    "slow (1 s a response)": ["--latency", "1000"],
    "hanging (20 s)": ["--latency", "20000"],
    "token refused": ["--token", "another-token"],
}


def _call(service: str, fhir_base: str) -> tuple[int, float]:
    body = fetching(REQUEST, fhir_base, TOKEN)
    started = time.monotonic()
    response = requests.post(f"{service}/cds-services/cpt64640-order-sign", json=body, timeout=30)
    return response.status_code, (time.monotonic() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="base URL of a running service (CDS_AUTH=off)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| fault | statuses | median ms | max ms |\n|---|---|---|---|")
    cases = [*FAULTS.items(), ("connection refused", None)]
    for name, options in cases:
        server = launch_fhir_server([FIXTURES], *options) if options is not None else None
        base = server.base_url if server else f"http://127.0.0.1:{free_port()}"
        try:
            results = [_call(args.url, base) for _ in range(args.rounds)]
        finally:
            if server is not None:
                server.stop()
        statuses = ", ".join(f"{s} x{n}" for s, n in sorted(Counter(s for s, _ in results).items()))
        times = [ms for _, ms in results]
        print(f"| {name} | {statuses} | {statistics.median(times):.0f} | {max(times):.0f} |")


if __name__ == "__main__":
    main()
