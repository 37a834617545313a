"""A FHIR Bulk Data export of N patients, for the audit benchmark and tests (`cpt64640 audit EXPORT`).

    .venv/bin/python benchmarks/make_export.py N OUT [--gzip] [--seed S]

writes OUT/<Type>.ndjson (OUT/<Type>.ndjson.gz with --gzip), one resource per line and one file per resource type
as a server answers `$export`, and OUT/manifest.json, the export's status manifest (`transactionTime`, `request`,
`requiresAccessToken: false`, `output: [{type, url, count}]` with urls relative to OUT, `error: []`). Files of a
previous export in OUT (NDJSON, manifest) are replaced. From Python: `make_export(N, OUT, gzip=..., seed=...)`
returns the resource counts by type; `patient_lines(N, seed)` yields the same lines one patient at a time. Sizes:
1,000 patients make about 83,000 resources, 92 MB (7 MB gzipped); most of them are the Synthea records'.

The patients are copies of templates, taken in turn: one template is one source patient with all their resources -
each Synthea record of `fhir-fixtures/external/smart-sandbox/` (transaction Bundles, `urn:uuid:` references resolved
to `Type/id`), each record of `fhir-fixtures/ehr/`, and each scenario's record (`fhir-fixtures/scenarios/`: its
resource files plus what its request carries that was performed, not draft orders, which an EHR does not export).
Scenarios sharing a record make one template. Copy i gives every resource id the suffix `-p<i>` (`-p000123`) and
rewrites every reference to the template's resources the same way, so copies never collide and every reference
resolves within the export. It also moves every date, dateTime, instant and period of the copy by the same whole
number of days (0 to 364 back, drawn from the seed), so a copy's dates keep their order and the export spreads
over a year. The same N and seed give the same bytes, gzip included. Generation is streamed: patient by patient,
appended to the open files, so memory does not grow with N.
"""

from __future__ import annotations

import argparse
import gzip as gzip_module
import io
import json
import random
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

from cpt64640_cds.tools.fhirserver import FixtureStore, resources_in
from cpt64640_cds.tools.scenarios import discover

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir-fixtures"
SYNTHEA = FIXTURES / "external" / "smart-sandbox"
EHR = FIXTURES / "ehr"
SCENARIOS = FIXTURES / "scenarios"
KICK_OFF = "https://ehr.example/fhir/Patient/$export"
SHIFT_DAYS = 365  # a copy moves 0..364 days back: the year of encounters an audit looks at
# FHIR date, dateTime and instant with at least a day (a year or a month alone is left as it is).
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?")
# Marks a hole while a template resource is serialized: NUL is not allowed in FHIR strings, and JSON escapes it.
SENTINEL = "\x00"
HOLE = re.compile(r"\\u0000(\d+)\\u0000")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.name != "replay.json")


def _performed(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources a hook request carries (draft orders, prefetch) that an EHR would export: not drafts."""
    context = request.get("context") or {}
    documents = [context.get("draftOrders"), *(request.get("prefetch") or {}).values()]
    return [r for d in documents for r in resources_in(d) if r.get("status") != "draft" and r.get("id")]


@cache
def templates() -> list[list[dict[str, Any]]]:
    """Each source patient's resources (ids as in the fixtures, references as `Type/id`), in a fixed order."""
    sources: list[tuple[list[Path], list[dict[str, Any]]]] = [([f], []) for f in _files(SYNTHEA) + _files(EHR)]
    sources += [(s.resources, _performed(s.request)) for s in discover([SCENARIOS])]
    found: dict[str, list[dict[str, Any]]] = {}
    for files, performed in sources:
        store = FixtureStore(files)
        for resource in performed:
            store.by_type.setdefault(resource["resourceType"], {}).setdefault(resource["id"], resource)
        record = [store.by_type[kind][key] for kind in sorted(store.by_type) for key in sorted(store.by_type[kind])]
        found.setdefault(json.dumps(record, sort_keys=True), record)
    return list(found.values())


def _shift(text: str, days: int) -> str:
    return (date.fromisoformat(text[:10]) + timedelta(days=days)).isoformat() + text[10:]


@dataclass(frozen=True)
class Compiled:
    """A template resource as its NDJSON line with holes: its id and references to the template's resources
    (filled with id + suffix), its dates (filled shifted); `text` has one piece more than `holes`."""

    kind: str
    text: tuple[str, ...]
    holes: tuple[tuple[bool, str], ...]  # (is a date, value)


def _compile(resource: dict[str, Any], ids: set[str]) -> Compiled:
    holes: list[tuple[bool, str]] = []

    def hole(is_date: bool, value: str) -> str:
        holes.append((is_date, value))
        return f"{SENTINEL}{len(holes) - 1}{SENTINEL}"

    def mark(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: hole(False, v) if k == "reference" and isinstance(v, str) and v in ids else mark(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, str) and DATE.fullmatch(value):
            return hole(True, value)
        return value

    marked = {**mark(resource), "id": hole(False, resource["id"])}
    parts = HOLE.split(json.dumps(marked, ensure_ascii=False, separators=(",", ":")))
    return Compiled(resource["resourceType"], tuple(parts[0::2]), tuple(holes[int(i)] for i in parts[1::2]))


@cache
def compiled() -> tuple[tuple[Compiled, ...], ...]:
    """The templates compiled once: a copy is then only joins of text, not a walk of every resource."""
    out = []
    for record in templates():
        ids = {f"{r['resourceType']}/{r['id']}" for r in record}
        out.append(tuple(_compile(r, ids) for r in record))
    return tuple(out)


def patient_lines(patients: int, seed: int = 64640) -> Iterator[list[tuple[str, str]]]:
    """Each of `patients` patients in turn as (resource type, NDJSON line) pairs: copy i of template i mod the
    number of templates."""
    pool = compiled()
    width = max(6, len(str(patients - 1)))
    rng = random.Random(seed)
    for index in range(patients):
        suffix = f"-p{index:0{width}d}"
        days = -rng.randrange(SHIFT_DAYS)
        shifted: dict[str, str] = {}
        record = []
        for resource in pool[index % len(pool)]:
            line = [resource.text[0]]
            for (is_date, value), text in zip(resource.holes, resource.text[1:], strict=True):
                if is_date:
                    line.append(shifted.get(value) or shifted.setdefault(value, _shift(value, days)))
                else:
                    line.append(value + suffix)
                line.append(text)
            record.append((resource.kind, "".join(line)))
        yield record


def _transaction_time() -> str:
    """The day after the templates' latest date (copies only move back): after everything exported, and fixed,
    so the manifest is reproducible too."""
    found = re.findall(r'"(\d{4}-\d{2}-\d{2})', json.dumps(templates()))
    return f"{date.fromisoformat(max(found)) + timedelta(days=1)}T00:00:00Z"


def _open(path: Path, compress: bool, stack: ExitStack) -> IO[bytes]:
    raw = stack.enter_context(path.open("wb"))
    if not compress:
        return raw
    # No file name and mtime 0 in the gzip header: the same export gives the same bytes.
    packed = gzip_module.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
    return stack.enter_context(io.BufferedWriter(packed, buffer_size=1 << 18))


def make_export(patients: int, out: Path, *, gzip: bool = False, seed: int = 64640) -> dict[str, int]:
    """Write an export of `patients` patients to `out` (created if needed); the resource counts by type."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.ndjson"), *out.glob("*.ndjson.gz"), out / "manifest.json"]:
        old.unlink(missing_ok=True)
    extension = ".ndjson.gz" if gzip else ".ndjson"
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        files: dict[str, IO[bytes]] = {}
        for record in patient_lines(patients, seed):
            for kind, line in record:
                if kind not in files:
                    files[kind] = _open(out / f"{kind}{extension}", gzip, stack)
                files[kind].write(line.encode("utf-8") + b"\n")
                counts[kind] = counts.get(kind, 0) + 1
    counts = dict(sorted(counts.items()))
    manifest = {
        "transactionTime": _transaction_time(),
        "request": KICK_OFF,
        "requiresAccessToken": False,
        "output": [{"type": kind, "url": f"{kind}{extension}", "count": count} for kind, count in counts.items()],
        "error": [],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("patients", type=int, help="number of patients (N >= 1)")
    parser.add_argument("out", type=Path, help="folder for the NDJSON files and manifest.json")
    parser.add_argument("--gzip", action="store_true", help="write <Type>.ndjson.gz")
    parser.add_argument("--seed", type=int, default=64640, help="seed of the date shifts (default 64640)")
    args = parser.parse_args(argv)
    if args.patients < 1:
        parser.error("the number of patients must be at least 1")
    counts = make_export(args.patients, args.out, gzip=args.gzip, seed=args.seed)
    total = sum(counts.values())
    print(f"make_export: {args.patients} patients, {total} resources of {len(counts)} types in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
