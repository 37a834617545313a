"""`cpt64640 replay`: scenario folders through the service, compared with their golden cards (tools/replay.py);
a mismatch is printed in a coder's words, and `--html` / `--junit` write reports (tools/report.py)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from ..config import Settings


def add(commands: Any) -> None:
    replay = commands.add_parser("replay", help="replay scenario folders through the service, compare with golden")
    replay.add_argument("paths", nargs="+", help="scenario folders, folders of them, or patient Bundle files")
    replay.add_argument("--url", help="a running service's base URL (default: the service in-process)")
    replay.add_argument(
        "--mode",
        choices=["prefetch", "fetch", "both"],
        default="prefetch",
        help="prefetch: the record as prefetch; fetch: from a fixture FHIR server; both: each, and they must agree",
    )
    replay.add_argument("--update-golden", action="store_true", help="rewrite expected.json from what the service says")
    replay.add_argument("--html", metavar="REPORT.html", help="write a report people can read")
    replay.add_argument("--junit", metavar="FILE", help="write JUnit XML for CI")
    replay.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, a few lines otherwise)")
    replay.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..tools.replay import InProcess, OverHttp, progress, replay, update_golden
    from ..tools.scenarios import ReplayError, discover

    modes = ["prefetch", "fetch"] if args.mode == "both" else [args.mode]
    try:
        scenarios = discover([Path(p) for p in args.paths])
        if not scenarios:
            print("cpt64640 replay: no scenarios found", file=sys.stderr)
            return 2
        # In-process: a throw-away database, quiet logs and no client authentication (nothing calls in), so a
        # replay needs no settings and leaves nothing behind.
        target = (
            OverHttp(args.url)
            if args.url
            else InProcess(Settings.from_env(serving=False, database_url="sqlite://", log_level="ERROR", auth="off"))
        )
        with progress() if not args.quiet else contextlib.nullcontext(None) as shown:
            result = replay(scenarios, modes, target, shown)
    except ReplayError as exc:
        print(f"cpt64640 replay: {exc}", file=sys.stderr)
        return 2
    if args.html or args.junit:
        try:
            from ..tools.report import html_report, junit_report
        except ModuleNotFoundError as exc:  # Jinja2 and the Markdown renderer come with the tools extra
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
    for each in result.runs:
        if not each.passed:
            print(f"\nFAIL {each.scenario.name} [{each.mode}]: {each.scenario.description}")
            print("\n".join(f"  {problem}" for problem in each.problems()))
    for name, problems in result.disagreements.items():
        print(f"\nFAIL {name}: prefetch and fetch modes disagree")
        print("\n".join(f"  {problem}" for problem in problems))
    failed = len({r.scenario.name for r in result.runs if not r.passed} | set(result.disagreements))
    print(f"{len(scenarios) - failed} of {len(scenarios)} scenarios pass ({', '.join(modes)})")
    return 0 if result.passed else 1
