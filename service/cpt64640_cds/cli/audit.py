"""`cpt64640 audit EXPORT --out DIR`: coding review after the fact over a FHIR Bulk Data export (docs/audit.md):
findings.parquet, findings.csv, summary.html and run.json in DIR. Progress is a bar on a terminal and a few lines
otherwise; each malformed NDJSON line is named on stderr (file:line), skipped and counted."""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..config import Settings
from ..tools.progress import new_bar, shown

MALFORMED_PRINTED = 20


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def add(commands: Any) -> None:
    audit = commands.add_parser("audit", help="review a FHIR Bulk Data export after the fact; write the findings")
    audit.add_argument("export", help="the export: a folder of *.ndjson / *.ndjson.gz files, or its status manifest")
    audit.add_argument("--out", required=True, metavar="DIR", help="where to write findings, summary and run.json")
    audit.add_argument(
        "--engine", choices=["local", "spark"], default="local", help="local: this machine's processes; spark: PySpark"
    )
    audit.add_argument(
        "--workers", type=_workers, help="local engine: review processes (default: one per CPU)", metavar="N"
    )
    audit.add_argument("--master", metavar="URL", help="spark engine: the Spark master (default: local[*])")
    audit.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, a few lines otherwise)")
    audit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..audit.export import ExportError, discover
    from ..audit.local import run_local
    from ..audit.model import ReviewError
    from ..audit.outputs import Run, write_csv, write_parquet, write_run
    from ..audit.summary import render
    from ..knowledge.loader import load as load_knowledge

    # The review reads the service's settings (e.g. CDS_DISTINCT_MODIFIER): a bad environment stops here, in one
    # line, rather than in every worker.
    Settings.from_env(serving=False)
    if args.master and args.engine != "spark":
        return _fail("--master is for --engine spark")
    out = Path(args.out)
    try:
        export = discover(Path(args.export))
        out.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC)
        with contextlib.nullcontext(None) if args.quiet else progress() as shown:
            if args.engine == "spark":
                try:
                    from ..audit.spark import run_spark
                except ModuleNotFoundError as exc:
                    return _fail(f"--engine spark needs {exc.name}, which is not installed (pip install pyspark)")
                files = [(file.label, str(file.path)) for file in export.files]
                rows, totals = run_spark(files, master=args.master, progress=_say if shown else None)
            else:
                rows, totals = run_local(export.files, workers=args.workers, progress=shown, scratch=out)
        finished = datetime.now(UTC)
    except (ExportError, ReviewError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or out}: {exc.strerror or exc}")
    for line in totals.malformed[:MALFORMED_PRINTED]:
        print(f"{export.where(line)}: {line.problem}", file=sys.stderr)
    if len(totals.malformed) > MALFORMED_PRINTED:
        more = len(totals.malformed) - MALFORMED_PRINTED
        print(f"... and {more} more malformed lines (run.json lists the first 100)", file=sys.stderr)
    run = Run(str(args.export), args.engine, started, finished, load_knowledge().version)
    write_parquet(rows, out / "findings.parquet")
    write_csv(rows, out / "findings.csv")
    write_run(rows, totals, run, out / "run.json")
    (out / "summary.html").write_text(render(rows, totals, run), encoding="utf-8")
    print(
        f"{len(rows)} findings in {totals.encounters_reviewed} encounters of {totals.patients} patients "
        f"({sum(totals.resources_by_type.values())} resources, {len(totals.malformed)} malformed lines skipped); "
        f"wrote {out}/findings.parquet, findings.csv, summary.html, run.json"
    )
    return 0


def _say(message: str) -> None:
    """The Spark engine's progress: a line per stage (counts only), on a terminal and in a log alike."""
    print(f"audit: {message}", file=sys.stderr, flush=True)


def _fail(message: str) -> int:
    print(f"cpt64640 audit: {message}", file=sys.stderr)
    return 2


def progress(stream: TextIO | None = None) -> contextlib.AbstractContextManager[_Bar | _Lines]:
    """A bar per phase on a terminal; otherwise a line when reading ends and one when the review ends."""
    return shown(_Bar, _Lines, stream)


class _Bar:
    def __init__(self, stream: TextIO, tqdm: Any):
        self.stream, self.tqdm = stream, tqdm
        self.bar: Any = None
        self.phase = ""

    def _show(self, phase: str, total: int | None, unit: str) -> Any:
        if self.phase != phase:
            self.close()
            self.bar = new_bar(self.tqdm, self.stream, total=total, unit=unit, desc=phase)
            self.phase = phase
        return self.bar

    def read(self, resources: int) -> None:
        bar = self._show("reading", None, " resources")
        bar.update(resources - bar.n)

    def reviewed(self, partitions: int, of: int, patients: int) -> None:
        bar = self._show("reviewing", of, " partitions")
        bar.set_postfix_str(f"{patients} patients", refresh=False)
        bar.update(partitions - bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Lines:
    def __init__(self, stream: TextIO):
        self.stream = stream
        self.resources = 0
        self.since = datetime.now(UTC)

    def _say(self, text: str) -> None:
        self.stream.write(f"audit: {text}\n")
        self.stream.flush()

    def _seconds(self) -> float:
        now = datetime.now(UTC)
        seconds, self.since = (now - self.since).total_seconds(), now
        return seconds

    def read(self, resources: int) -> None:
        self.resources = resources

    def reviewed(self, partitions: int, of: int, patients: int) -> None:
        if partitions == 0:
            self._say(f"{self.resources} resources read in {self._seconds():.1f} s; reviewing {of} partitions")
        elif partitions == of:
            self._say(f"{patients} patients reviewed in {self._seconds():.1f} s")

    def close(self) -> None:
        pass
