"""The benchmark's verdict: issue 13's targets, each measured against its limit, printed as a table and kept as
JSON for docs/performance.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# id → the name printed in the table (the e2e test looks for every one).
TARGETS = {
    "typical_vs_floor": "typical p50, 1 client, vs floor",
    "typical_p50": "typical p50, 1 client",
    "throughput": "throughput, 8 clients",
    "p99": "p99, 8 clients",
    "vs_healthchain": "p50 vs HealthChain handler",
    "large_p50": "1,000-resource p50",
    "linear": "linear in resources",
    "fetch_overhead": "fetch mode: wall - slowest query",
    "first_call": "first call on a fresh worker",
    "rss": "RSS per worker, large requests",
}
PASS, MISS, NA = "PASS", "MISS", "n/a"


@dataclass
class Verdict:
    id: str
    target: str
    measured: str
    limit: str
    result: str
    value: float | None  # the number compared with the limit (ms, ratio, req/s or MB)


def verdict(key: str, measured: str, limit: str, value: float | None, passed: bool | None) -> Verdict:
    result = NA if passed is None or value is None else (PASS if passed else MISS)
    return Verdict(key, TARGETS[key], measured, limit, result, value)


def judge(m: dict[str, Any]) -> list[Verdict]:
    """The targets from the measurements `bench.py` collected."""
    service, floor, healthchain = (
        m["typical"]["service"]["p50"],
        m["typical"]["floor"]["p50"],
        m["typical"].get("healthchain"),
    )
    load = m["load"]["service"]
    sizes = {int(k): v for k, v in m["sizes"].items()}
    per_250, per_4000 = sizes[250]["service"]["ms_per_resource"], sizes[4000]["service"]["ms_per_resource"]
    fetch, first, rss = m["fetch"], m["fresh"], m["rss"]
    verdicts = [
        verdict(
            "typical_vs_floor",
            f"{service:.2f} ms = {service / floor:.1f} x floor ({floor:.2f} ms)",
            "<= 5 x floor",
            service / floor,
            service <= 5 * floor,
        ),
        verdict("typical_p50", f"{service:.2f} ms", "<= 6 ms", service, service <= 6),
        verdict(
            "throughput",
            f"{load['per_second']:.0f} req/s",
            ">= 200 req/s",
            load["per_second"],
            load["per_second"] >= 200,
        ),
        verdict("p99", f"{load['p99']:.1f} ms", "<= 50 ms", load["p99"], load["p99"] <= 50),
    ]
    if healthchain:
        ratio = healthchain["p50"] / service
        verdicts.append(
            verdict(
                "vs_healthchain",
                f"{ratio:.2f} x lower (HealthChain {healthchain['p50']:.2f} ms)",
                ">= 3 x lower",
                ratio,
                ratio >= 3,
            )
        )
    else:
        verdicts.append(
            verdict("vs_healthchain", f"HealthChain: {m['healthchain_status']}", ">= 3 x lower", None, None)
        )
    large = sizes[1000]["service"]["p50"]
    verdicts += [
        verdict("large_p50", f"{large:.1f} ms", "<= 60 ms", large, large <= 60),
        verdict(
            "linear",
            f"{per_4000:.4f} ms/resource at 4,000 = {per_4000 / per_250:.2f} x at 250 ({per_250:.4f})",
            "<= 1.5 x",
            per_4000 / per_250,
            per_4000 <= 1.5 * per_250,
        ),
        verdict(
            "fetch_overhead",
            f"{fetch['overhead']:+.1f} ms (wall {fetch['wall_p50']:.1f}, slowest query {fetch['slowest_query']:.1f})",
            "<= +10 ms",
            fetch["overhead"],
            fetch["overhead"] <= 10,
        ),
        verdict(
            "first_call",
            f"{first['first']:.1f} ms = {first['first'] / first['warm_p50']:.1f} x warm ({first['warm_p50']:.2f} ms)",
            "<= 2 x warm",
            first["first"] / first["warm_p50"],
            first["first"] <= 2 * first["warm_p50"],
        ),
        verdict(
            "rss",
            f"{rss['max_mb']:.0f} MB (workers {', '.join(f'{v:.0f}' for v in rss['workers_mb'])}) "
            f"after {rss['requests']} x {rss['resources']}",
            "<= 150 MB",
            rss["max_mb"],
            rss["max_mb"] <= 150,
        ),
    ]
    return verdicts


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def sizes_table(m: dict[str, Any]) -> str:
    rows = []
    for size, at in sorted(((int(k), v) for k, v in m["sizes"].items())):
        service, floor = at["service"], at["floor"]
        rows.append(
            [
                f"{size:,}",
                f"{service['p50']:.1f} ms",
                f"{service['ms_per_resource']:.4f}",
                f"{floor['p50']:.2f} ms",
                str(service["calls"]),
            ]
        )
    return table(rows, ["resources", "service p50", "ms/resource", "floor p50", "calls"])


def verdict_table(verdicts: list[Verdict]) -> str:
    return table(
        [[v.target, v.measured, v.limit, v.result] for v in verdicts], ["target", "measured", "limit", "result"]
    )


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def write_json(path: Path, measurements: dict[str, Any], verdicts: list[Verdict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "targets": [asdict(v) for v in verdicts],
        "measurements": measurements,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
