"""`cpt64640` command line: `serve` (the CDS service: gunicorn behind nginx), the offline commands `db` (schema
migrations and retention), `feedback-report` and `audit` (coding review over a FHIR Bulk Data export), and the
developer tools `dev` (`make run`: serve with the fixture FHIR server beside it), `fhir-server` (fixture FHIR),
`replay` (scenarios against golden cards).
One module per command, each adding its parser with `add(commands)`.

Each command imports what it needs when it runs: `serve` (server/) must set up the metrics folder before the
app is imported, and the tools' extras (`pip install 'cpt64640-cds[tools]'`) are not needed to serve."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..config import ConfigError
from ..knowledge.loader import KNOWLEDGE_DIR, KnowledgeError
from . import audit, db, dev, feedback_report, fhir_server, replay, serve

COMMANDS = (serve, dev, db, feedback_report, replay, fhir_server, audit)


class _Version(argparse.Action):
    """`--version`: the package and the rule set it ships, read when asked (not on every command)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from ..knowledge.codes import RuleSet

        # ruleset.json alone holds the version: validating that one file costs milliseconds, loading the
        # whole knowledge base (ICD-10-CM index included) half a second.
        ruleset = RuleSet.model_validate_json((KNOWLEDGE_DIR / "ruleset.json").read_bytes())
        print(f"cpt64640-cds {__version__}, rule set {ruleset.version}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cpt64640", description="CDS Hooks coding assistant for CPT 64640")
    top.add_argument("--version", action=_Version, help="print the package and rule-set versions and exit")
    commands = top.add_subparsers(dest="command", required=True, help="what to do")
    for command in COMMANDS:
        command.add(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (ConfigError, KnowledgeError, db.DatabaseFailure) as exc:
        print(f"cpt64640: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
