"""The local engine end to end with a stand-in review in two spawned workers: every patient reviewed once, rows
sorted, resources counted by type (those naming no patient too), malformed lines kept, nothing left on disk."""

from __future__ import annotations

import json
import re

import pytest

from cpt64640_cds.audit.export import discover
from cpt64640_cds.audit.lines import patient_of
from cpt64640_cds.audit.local import run_local
from cpt64640_cds.audit.model import MalformedLine, ReviewError

from . import fake_review
from .exports import PATIENTS, fixture_resources, write_export


class Recorded:
    def __init__(self) -> None:
        self.read_counts: list[int] = []
        self.reviews: list[tuple[int, int, int]] = []

    def read(self, resources: int) -> None:
        self.read_counts.append(resources)

    def reviewed(self, partitions: int, of: int, patients: int) -> None:
        self.reviews.append((partitions, of, patients))


def test_two_workers_review_every_patient_once_with_the_review_named(tmp_path):
    resources = fixture_resources()
    organization = {"resourceType": "Organization", "id": "org-1", "name": "no patient here"}
    counts = write_export(tmp_path / "export", [*resources, organization], gzipped=("Procedure",))
    with (tmp_path / "export" / "Condition.ndjson").open("a") as stream:
        stream.write("{broken\n")
    scratch = tmp_path / "out"
    scratch.mkdir()
    progress = Recorded()

    rows, totals = run_local(discover(tmp_path / "export").files, fake_review.NAME, 2, progress, scratch)

    expected = [
        row for p in PATIENTS for row in fake_review.review_patient(p, [r for r in resources if patient_of(r) == p])[0]
    ]
    assert rows == sorted(expected) and len(rows) == counts["Procedure"] > 0
    assert totals.resources_by_type == dict(sorted(counts.items()))  # Organization counted, not reviewed
    assert totals.patients == len(PATIENTS)
    assert totals.encounters_reviewed == counts["Encounter"]
    assert totals.malformed == [MalformedLine("Condition.ndjson", counts["Condition"] + 1, totals.malformed[0].problem)]
    assert progress.read_counts[-1] == sum(counts.values())
    partitions = progress.reviews[-1][1]
    assert progress.reviews[0] == (0, partitions, 0) and progress.reviews[-1] == (partitions, partitions, 4)
    assert list(scratch.iterdir()) == []  # the partitions are removed


def test_a_review_that_cannot_be_imported_stops_before_reading(tmp_path):
    (tmp_path / "Patient.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "p"}) + "\n")
    with pytest.raises(ReviewError, match=re.escape("the review no.such.module:review cannot be imported")):
        run_local(discover(tmp_path).files, "no.such.module:review", 1, None, tmp_path)
    with pytest.raises(ReviewError, match="is not a function"):
        run_local(discover(tmp_path).files, f"{fake_review.__name__}:NAME", 1, None, tmp_path)
