"""`make bench` as a smoke run: the benchmark starts its servers, measures every target and reports each one, in
its table and in its JSON file. Nothing here looks at the numbers' size: speed is the benchmark's to judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_report import TARGETS

RESULTS = {"PASS", "MISS", "n/a"}


def test_quick_bench_reports_every_target(tmp_path: Path):
    results = tmp_path / "latest.json"
    env = {
        **os.environ,
        "BENCH_HEALTHCHAIN": "0",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "service"), os.environ.get("PYTHONPATH")) if p),
    }
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--json", str(results)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    for name in TARGETS.values():
        row = next((line for line in lines if line.startswith(name + " ")), None)
        assert row is not None, f"no line for {name!r} in:\n{run.stdout}"
        assert row.split()[-1] in RESULTS
    assert "HealthChain: not installed" in run.stdout

    document = json.loads(results.read_text())
    targets = {t["id"]: t for t in document["targets"]}
    assert set(targets) == set(TARGETS)
    assert {t["result"] for t in targets.values()} <= RESULTS
    assert targets["vs_healthchain"]["result"] == "n/a"
    measured = [t["value"] for key, t in targets.items() if key != "vs_healthchain"]
    assert all(isinstance(v, float | int) for v in measured)
    sizes = document["measurements"]["sizes"]
    assert sorted(map(int, sizes)) == [60, 250, 1000, 4000]
    assert all(at["service"]["calls"] >= 1 and at["service"]["p50"] > 0 for at in sizes.values())
    assert 0 < document["measurements"]["rss"]["max_mb"] < 4096
