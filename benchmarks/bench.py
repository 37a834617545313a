"""`make bench`: issue 13's speed targets, measured on this machine, each printed with PASS or MISS.

The service is started as `make run` starts it (`cpt64640 serve`, CDS_AUTH=off, its default workers and front)
and measured beside the floor (benchmarks/floor_app.py: the same gunicorn set-up serving an app that only
JSON-decodes the body) and, when .venv-healthchain holds it, a HealthChain handler that only parses the same
prefetch (benchmarks/healthchain_app.py). Servers are compared in alternating rounds (A B A B) so that the
noise of a shared machine falls on all of them alike. docs/performance.md describes each target's method.

    .venv/bin/python benchmarks/bench.py            # the whole measurement (minutes)
    .venv/bin/python benchmarks/bench.py --quick    # a smoke run: every target, few calls
    .venv/bin/python benchmarks/bench.py --strict   # exit status 1 when a target is missed

A measurement, not a test: the exit status is 0 whatever the numbers unless --strict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_report
import bench_requests
from bench_load import Connection, concurrent, percentile, sequential
from bench_servers import (
    ROOT,
    Server,
    StartError,
    gunicorn_model,
    healthchain_version,
    rss_mb,
    start_floor,
    start_healthchain,
    start_service,
    start_slow_fhir,
)

HOOK = f"/cds-services/{bench_requests.ORDER_SIGN}"
SIZES = (60, 250, 1000, 4000)
TYPICAL, LARGE = 60, 1000
# Fetch mode: one key (Conditions) is slowest, the others answer sooner.
FETCH_LATENCY_MS = {"Condition": 50, "*": 20}


@dataclass(frozen=True)
class Plan:
    """How many calls each measurement makes."""

    warmup: int = 20
    rounds: int = 4
    calls: int = 60  # per server and round: 4 x 60 = 240 after warm-up
    load_rounds: int = 2
    load_seconds: float = 5.0
    load_warmup: float = 1.0
    clients: int = 8
    size_rounds: int = 2
    size_warmup: int = 1  # calls per size and server before the rounds
    size_calls: tuple[tuple[int, int], ...] = ((250, 20), (1000, 15), (4000, 4))  # per round
    fetch_rounds: int = 2
    fetch_calls: int = 15
    fresh_starts: int = 3
    fresh_warm_calls: int = 100
    rss_requests: int = 1000
    rss_clients: int = 2


QUICK = Plan(
    warmup=3,
    rounds=2,
    calls=10,
    load_rounds=1,
    load_seconds=1.0,
    load_warmup=0.3,
    size_rounds=1,
    size_warmup=0,
    size_calls=((250, 1), (1000, 1), (4000, 1)),
    fetch_rounds=1,
    fetch_calls=3,
    fresh_starts=1,
    fresh_warm_calls=10,
    rss_requests=4,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(latencies: list[float]) -> dict[str, Any]:
    return {"calls": len(latencies), "p50": statistics.median(latencies), "p99": percentile(latencies, 0.99)}


def check_answers(servers: dict[str, Server], body: bytes, resources: int) -> None:
    """Every server answers the typical call as it should: the service with its card, HealthChain having parsed
    every resource, the floor having decoded every prefetch key. A fast wrong answer would measure nothing."""
    for name, server in servers.items():
        connection = Connection(server.base_url)
        answer, _ = connection.call(HOOK, body)
        connection.close()
        if name == "service" and not answer.get("cards"):
            raise SystemExit("bench: the service answered the typical call without a card")
        if name == "healthchain" and answer["cards"][0]["summary"] != f"parsed {resources} resources":
            raise SystemExit(f"bench: the HealthChain handler did not parse every resource: {answer}")
        if name == "floor" and answer.get("keys") != len(json.loads(body)["prefetch"]):
            raise SystemExit(f"bench: the floor answered {answer}")


def alternating(servers: dict[str, Server], body: bytes, plan: Plan) -> dict[str, Any]:
    """One client, `plan.rounds` rounds of `plan.calls` calls to each server, the order reversed every round."""
    names = list(servers)
    for name in names:
        sequential(servers[name].base_url, HOOK, body, plan.warmup)
    timings: dict[str, list[float]] = {name: [] for name in names}
    rounds: dict[str, list[float]] = {name: [] for name in names}
    for number in range(plan.rounds):
        for name in names if number % 2 == 0 else reversed(names):
            found = sequential(servers[name].base_url, HOOK, body, plan.calls)
            timings[name] += found
            rounds[name].append(statistics.median(found))
    return {name: summary(timings[name]) | {"round_p50s": rounds[name]} for name in names}


def under_load(servers: dict[str, Server], body: bytes, plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    collected: dict[str, list[Any]] = {name: [] for name in servers}
    for server in servers.values():  # every worker warm (one client's keep-alive calls reached only one)
        concurrent(server.base_url, HOOK, body, plan.clients, plan.load_warmup)
    for number in range(plan.load_rounds):
        for name in servers if number % 2 == 0 else reversed(list(servers)):
            collected[name].append(concurrent(servers[name].base_url, HOOK, body, plan.clients, plan.load_seconds))
    for name, loads in collected.items():
        latencies = [ms for load in loads for ms in load.latencies]
        out[name] = {
            "clients": plan.clients,
            "seconds": plan.load_seconds * len(loads),
            "per_second": sum(load.answered for load in loads) / (plan.load_seconds * len(loads)),
            "round_per_second": [load.per_second for load in loads],
            "p50": statistics.median(latencies),
            "p99": percentile(latencies, 0.99),
            "errors": sum(load.errors for load in loads),
        }
    return out


def by_size(
    servers: dict[str, Server], bodies: dict[int, bytes], typical: dict[str, Any], plan: Plan
) -> dict[int, Any]:
    """p50 at each size; the 60-resource row is the typical measurement itself."""
    timings: dict[tuple[int, str], list[float]] = {}
    for name in servers:
        for size, _ in plan.size_calls:
            sequential(servers[name].base_url, HOOK, bodies[size], plan.size_warmup)
    for number in range(plan.size_rounds):
        for size, calls in plan.size_calls:
            for name in servers if number % 2 == 0 else reversed(list(servers)):
                timings.setdefault((size, name), []).extend(
                    sequential(servers[name].base_url, HOOK, bodies[size], calls)
                )
    out: dict[int, Any] = {TYPICAL: {name: dict(typical[name]) for name in servers}}
    for (size, name), found in timings.items():
        out.setdefault(size, {})[name] = summary(found)
    for size, at in out.items():
        for row in at.values():
            row["ms_per_resource"] = row["p50"] / size
    return out


def slowest_query(fhir: Server) -> float:
    """The slowest single prefetch query, asked by itself: the median of 3 tries of each, the largest of those."""
    medians = []
    for url in bench_requests.prefetch_queries(fhir.base_url):
        tries = [Connection(fhir.base_url).get(url.removeprefix(fhir.base_url)) for _ in range(3)]
        medians.append(statistics.median(tries))
    return max(medians)


def fetch_mode(service: Server, folder: Path, plan: Plan) -> dict[str, Any]:
    fhir = start_slow_fhir(folder, bench_requests.fetch_record(TYPICAL, folder), FETCH_LATENCY_MS)
    try:
        body = json.dumps(bench_requests.order_sign_fetching(fhir.base_url)).encode()
        connection = Connection(service.base_url)
        answer, _ = connection.call(HOOK, body)
        connection.close()
        if not answer.get("cards"):
            raise SystemExit("bench: the service answered the fetch-mode call without a card")
        sequential(service.base_url, HOOK, body, 2)
        walls, slowest = [], []
        for _ in range(plan.fetch_rounds):
            slowest.append(slowest_query(fhir))
            walls += sequential(service.base_url, HOOK, body, plan.fetch_calls)
    finally:
        fhir.stop()
    wall, slow = statistics.median(walls), statistics.median(slowest)
    return {
        "latency_ms": FETCH_LATENCY_MS,
        "calls": len(walls),
        "wall_p50": wall,
        "slowest_query": slow,
        "slowest_query_rounds": slowest,
        "overhead": wall - slow,
    }


def fresh_workers(folder: Path, body: bytes, large: bytes, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first hook call after a fresh service says ready, against the same service warm; on the last start,
    the workers' memory after `plan.rss_requests` large calls."""
    firsts, warms, ready = [], [], []
    rss: dict[str, Any] = {}
    for start in range(plan.fresh_starts):
        service = start_service(folder)
        try:
            ready.append(service.ready_after)
            connection = Connection(service.base_url)
            firsts.append(connection.call(HOOK, body)[1])
            connection.close()
            warms.append(statistics.median(sequential(service.base_url, HOOK, body, plan.fresh_warm_calls)))
            if start == plan.fresh_starts - 1:
                rss = memory_after_large(service, large, plan)
        finally:
            service.stop()
    worst = max(range(len(firsts)), key=lambda i: firsts[i] / warms[i])
    fresh = {
        "starts": plan.fresh_starts,
        "first": firsts[worst],
        "warm_p50": warms[worst],
        "firsts": firsts,
        "warm_p50s": warms,
        "ready_after_s": ready,
        "ready_path": service.ready_path,
    }
    return fresh, rss


def memory_after_large(service: Server, large: bytes, plan: Plan) -> dict[str, Any]:
    before = service.workers()
    per_client = -(-plan.rss_requests // plan.rss_clients)
    from multiprocessing import get_context

    with get_context("fork").Pool(plan.rss_clients) as pool:
        pool.starmap(sequential, [(service.base_url, HOOK, large, per_client)] * plan.rss_clients)
    after = service.workers()
    workers = [rss_mb(pid) for pid in after]
    return {
        "requests": per_client * plan.rss_clients,
        "resources": LARGE,
        "workers_mb": workers,
        "max_mb": max(workers),
        "recycled": sorted(before) != sorted(after),  # a replaced worker would hide what the old one held
    }


def healthchain_venv(args: argparse.Namespace) -> tuple[Path | None, str]:
    if os.environ.get("BENCH_HEALTHCHAIN") == "0":
        return None, "not installed (BENCH_HEALTHCHAIN=0)"
    if not (args.healthchain_venv / ".installed").exists():  # make bench's mark of a complete install
        return None, f"not installed ({args.healthchain_venv} has no HealthChain; make bench creates it)"
    return args.healthchain_venv, "installed"


def measure(args: argparse.Namespace, plan: Plan, folder: Path) -> dict[str, Any]:
    bodies = {size: json.dumps(bench_requests.order_sign(size)).encode() for size in SIZES}
    typical = bodies[TYPICAL]
    venv, status = healthchain_venv(args)
    model = gunicorn_model()
    servers = {"service": start_service(folder), "floor": start_floor(folder)}
    try:
        if venv:
            try:
                servers["healthchain"] = start_healthchain(folder, venv, model["workers"])
                status = f"healthchain {healthchain_version(venv)}, gunicorn with {model['workers']} uvicorn workers"
            except StartError as exc:
                status = "not installed (it did not start: " + str(exc).splitlines()[0] + ")"
        setup = {
            "service": f"cpt64640 serve: {model['workers']} workers x {model['threads']} threads "
            f"({model['worker_class'].rsplit('.', 1)[-1]}), front {servers['service'].front()}, "
            f"ready on {servers['service'].ready_path}",
            "floor": f"benchmarks/floor_app.py on the same set-up, front {servers['floor'].front()}",
            "HealthChain": status,
            "load_average_at_start": os.getloadavg()[0],
        }
        for name, what in setup.items():
            print(f"{name.replace('_', ' ')}: {what:.1f}" if isinstance(what, float) else f"{name}: {what}", flush=True)
        check_answers(servers, typical, TYPICAL)
        log(f"bench: typical order-sign ({TYPICAL} resources), 1 client, {plan.rounds} rounds of {plan.calls} calls")
        one = alternating(servers, typical, plan)
        log(f"bench: {plan.clients} clients, {plan.load_rounds} rounds of {plan.load_seconds:g} s")
        pair = {name: servers[name] for name in ("service", "floor")}
        load = under_load(pair, typical, plan)
        log(f"bench: sizes {', '.join(map(str, SIZES))}")
        sizes = by_size(pair, bodies, one, plan)
        for name in ("floor", "healthchain"):
            if name in servers:
                servers.pop(name).stop()
        log("bench: fetch mode")
        fetch = fetch_mode(servers["service"], folder, plan)
    finally:
        for server in servers.values():
            server.stop()
    log(f"bench: fresh workers ({plan.fresh_starts} starts) and memory after {plan.rss_requests} large calls")
    fresh, rss = fresh_workers(folder, typical, bodies[LARGE], plan)
    return {
        "plan": "quick" if args.quick else "full",
        "setup": setup | {"load_average_at_end": os.getloadavg()[0]},
        "healthchain_status": status,
        "typical": one,
        "load": load,
        "sizes": {str(size): at for size, at in sorted(sizes.items())},
        "fetch": fetch,
        "fresh": fresh,
        "rss": rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few calls, every target")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when a target is missed")
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "latest.json", help="where results go")
    parser.add_argument("--healthchain-venv", type=Path, default=ROOT / ".venv-healthchain")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    folder = Path(tempfile.mkdtemp(prefix="cpt64640-bench-"))
    try:
        measurements = measure(args, plan, folder)
    except StartError as exc:
        print(f"bench: {exc}\nbench: the servers' logs are in {folder}", file=sys.stderr)
        return 2
    shutil.rmtree(folder, ignore_errors=True)
    verdicts = bench_report.judge(measurements)
    print(f"load average at end: {measurements['setup']['load_average_at_end']:.1f}\n")
    print(bench_report.sizes_table(measurements))
    print()
    print(bench_report.verdict_table(verdicts))
    bench_report.write_json(args.json, measurements, verdicts)
    print(f"\nresults: {args.json}")
    missed = [v.target for v in verdicts if v.result == bench_report.MISS]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
