"""Small Bulk Data exports built from the fixture patients (fhir-fixtures/ehr), one NDJSON file per resource
type as `$export` writes them; shared with tests/e2e/test_audit_cli.py."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ...conftest import FIXTURES

PATIENTS = ("neuro-1", "neuro-2", "rw-1", "rw-2")


def fixture_resources(names: tuple[str, ...] = PATIENTS) -> list[dict[str, Any]]:
    bundles = [json.loads((FIXTURES / "ehr" / f"{name}.json").read_text(encoding="utf-8")) for name in names]
    return [entry["resource"] for bundle in bundles for entry in bundle["entry"]]


def write_export(folder: Path, resources: list[dict[str, Any]], gzipped: tuple[str, ...] = ()) -> dict[str, int]:
    """`Type.ndjson` per resource type (`Type.ndjson.gz` for the types in `gzipped`); the count per type."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for resource in resources:
        by_type[resource["resourceType"]].append(json.dumps(resource))
    folder.mkdir(parents=True, exist_ok=True)
    for kind, lines in by_type.items():
        text = "".join(line + "\n" for line in lines).encode("utf-8")
        if kind in gzipped:
            (folder / f"{kind}.ndjson.gz").write_bytes(gzip.compress(text))
        else:
            (folder / f"{kind}.ndjson").write_bytes(text)
    return {kind: len(lines) for kind, lines in by_type.items()}
