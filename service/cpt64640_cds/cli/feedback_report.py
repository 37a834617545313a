"""`cpt64640 feedback-report`: acceptance and override rates per rule and reason, read from the store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import Settings
from .db import database_errors


def add(commands: Any) -> None:
    report = commands.add_parser("feedback-report", help="acceptance and override rates per rule and reason")
    report.add_argument(
        "--database-url", metavar="URL", help="the store to read (default DATABASE_URL or the embedded SQLite file)"
    )
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..store.store import Store

    settings = Settings.from_env(serving=False, **({"database_url": args.database_url} if args.database_url else {}))
    with database_errors("read", settings.store_url):
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
