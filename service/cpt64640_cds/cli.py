"""`cpt64640` command line: `serve` (the CDS service: gunicorn behind nginx), and the developer tools
`fhir-server` (fixture FHIR), `replay` (scenarios against golden cards) and `feedback-report`.

Each command imports what it needs when it runs: `serve` (server/) must set up the metrics folder before the
app is imported, and the tools' extras (`pip install 'cpt64640-cds[tools]'`) are not needed to serve."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .config import ConfigError, Settings
from .knowledge.loader import KnowledgeError


def _serve(args: argparse.Namespace) -> int:
    from .server.gunicorn import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v}
    return serve(Settings.from_env(**overrides))


def _fhir_server(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from .tools.fhirserver import Faults, FixtureStore, create_fhir_app

    store = FixtureStore(Path(p) for p in args.paths)
    faults = Faults(
        latency_ms=args.latency, fail_rate=args.fail_rate, malformed_rate=args.malformed_rate, token=args.token
    )
    server = make_server(args.host, args.port, create_fhir_app(store, faults), threaded=True)
    print(f"fixture FHIR server with {store.count()} resources at http://{args.host}:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _replay(args: argparse.Namespace) -> int:
    from .tools.replay import InProcess, OverHttp, progress_bar, replay, update_golden
    from .tools.scenarios import ReplayError, diff, discover

    modes = ["prefetch", "fetch"] if args.mode == "both" else [args.mode]
    try:
        scenarios = discover([Path(p) for p in args.paths])
        if not scenarios:
            print("cpt64640 replay: no scenarios found", file=sys.stderr)
            return 2
        # In-process: a throw-away database and quiet logs, so a replay leaves nothing behind.
        target = (
            OverHttp(args.url)
            if args.url
            else InProcess({"database_url": "sqlite://", "log_level": "WARNING", "auth": "off"})
        )
        result = replay(scenarios, modes, target, progress_bar() if not args.quiet else None)
    except ReplayError as exc:
        print(f"cpt64640 replay: {exc}", file=sys.stderr)
        return 2
    if args.html or args.junit:
        try:
            from .tools.report import html_report, junit_report
        except ModuleNotFoundError as exc:  # the report's Markdown renderer comes with the tools extra
            print(
                f"cpt64640 replay: reports need the tools extra ({exc.name} is missing): "
                "pip install 'cpt64640-cds[tools]'",
                file=sys.stderr,
            )
            return 2
        if args.html:
            Path(args.html).write_text(html_report(result), encoding="utf-8")
        if args.junit:
            Path(args.junit).write_text(junit_report(result), encoding="utf-8")
    if args.update_golden:
        for path in update_golden(result):
            print(f"updated {path}")
        return 0
    for run in result.runs:
        if not run.passed:
            print(f"\nFAIL {run.scenario.name} [{run.mode}]: {run.scenario.description}")
            print(run.error or diff(run.scenario.expected, run.summary, ("golden", run.mode)))
    for name, text in result.disagreements.items():
        print(f"\nFAIL {name}: prefetch and fetch modes disagree\n{text}")
    failed = len({r.scenario.name for r in result.runs if not r.passed} | set(result.disagreements))
    print(f"{len(scenarios) - failed} of {len(scenarios)} scenarios pass ({', '.join(modes)})")
    return 0 if result.passed else 1


def _feedback_report(args: argparse.Namespace) -> int:
    from .store.store import Store

    settings = Settings.from_env(serving=False, **({"database_url": args.database_url} if args.database_url else {}))
    store = Store(settings.store_url, timeout_ms=max(settings.database_timeout_ms, 60_000))  # an offline report
    try:
        rules = store.report()
    finally:
        store.close()
    if args.json:
        print(json.dumps(rules, indent=2))
        return 0
    print(f"{'rule':<26} {'issued':>7} {'feedback':>8} {'accepted':>9} {'overridden':>10}")
    for rule in rules:
        received = rule["accepted"] + rule["overridden"]

        def rate(n: int, total: int = received) -> str:
            return f"{n} ({100 * n / total:.0f}%)" if total else str(n)

        print(
            f"{rule['rule']:<26} {rule['issued']:>7} {received:>8} {rate(rule['accepted']):>9} "
            f"{rate(rule['overridden']):>10}"
        )
        for reason, count in sorted(rule["reasons"].items(), key=lambda kv: -kv[1]):
            print(f"    override: {reason:<40} {rate(count, rule['overridden']):>10}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cpt64640", description="CDS Hooks coding assistant for CPT 64640")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the CDS Hooks service: gunicorn behind nginx (CDS_FRONT)")
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8080)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default WORKERS or 2)")
    serve.set_defaults(run=_serve)

    fhir = commands.add_parser("fhir-server", help="serve FHIR fixture folders over HTTP on loopback")
    fhir.add_argument("paths", nargs="+", help="folders or files of FHIR JSON (resources or Bundles)")
    fhir.add_argument("--host", default="127.0.0.1")
    fhir.add_argument("--port", type=int, default=8090, help="port (0 = any free port)")
    fhir.add_argument("--latency", type=int, default=0, metavar="MS", help="delay added to every response")
    fhir.add_argument("--fail-rate", type=float, default=0.0, metavar="R", help="share of requests that get 500")
    fhir.add_argument(
        "--malformed-rate", type=float, default=0.0, metavar="R", help="share of requests answered with broken JSON"
    )
    fhir.add_argument("--token", help="require this bearer token")
    fhir.set_defaults(run=_fhir_server)

    replay = commands.add_parser("replay", help="replay scenario folders through the service, compare with golden")
    replay.add_argument("paths", nargs="+", help="scenario folders, folders of them, or patient Bundle files")
    replay.add_argument("--url", help="a running service's base URL (default: the service in-process)")
    replay.add_argument("--mode", choices=["prefetch", "fetch", "both"], default="prefetch")
    replay.add_argument("--update-golden", action="store_true", help="rewrite expected.json from what the service says")
    replay.add_argument("--html", metavar="REPORT.html", help="write a report people can read")
    replay.add_argument("--junit", metavar="FILE", help="write JUnit XML for CI")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=_replay)

    report = commands.add_parser("feedback-report", help="acceptance and override rates per rule and reason")
    report.add_argument("--database-url", help="the store to read (default DATABASE_URL or the embedded SQLite file)")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.set_defaults(run=_feedback_report)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, KnowledgeError) as exc:
        print(f"cpt64640: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
