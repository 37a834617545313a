"""The local engine: this machine's processes. The main process reads the export once and spills it into
partitions by patient (partition.py); a pool of worker processes then reviews one partition each at a time, so
memory is bounded by one partition per worker whatever the export's size. Workers are spawned (no state forked
from the reader) and load the review and the knowledge base once, in their initializer."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol

from ..knowledge.loader import load as load_knowledge
from .export import ExportFile, read
from .lines import patient_of
from .model import DEFAULT_REVIEW, FindingRow, MalformedLine, Review, Totals, resolve
from .partition import Spill, load_partition, partition_count

# How often reading reports progress, in resources.
READ_STEP = 10_000


class Progress(Protocol):
    """What an engine reports while it runs (the command shows it as a bar or a few lines)."""

    def read(self, resources: int) -> None: ...

    def reviewed(self, partitions: int, of: int, patients: int) -> None: ...


def run_local(
    files: Sequence[ExportFile],
    review: str = DEFAULT_REVIEW,
    workers: int | None = None,
    progress: Progress | None = None,
    scratch: Path | None = None,
) -> tuple[list[FindingRow], Totals]:
    """Every finding of the export's patients, sorted, and the run's totals. `scratch`: where the partitions
    are spilled (a temporary folder is made in it, or in the system's, and removed at the end)."""
    resolve(review)  # a wrong name stops here, not in every worker after the export is read
    workers = workers or os.cpu_count() or 1
    totals = Totals()
    folder = Path(tempfile.mkdtemp(prefix="cpt64640-audit-", dir=scratch))
    try:
        count = partition_count(sum(file.expected_bytes() for file in files), workers)
        with Spill(folder, count) as spill:
            _spill(files, spill, totals, progress)
            partitions = spill.close()
        rows = _review(partitions, review, min(workers, len(partitions) or 1), totals, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return sorted(rows), totals


def _spill(files: Sequence[ExportFile], spill: Spill, totals: Totals, progress: Progress | None) -> None:
    by_type: Counter[str] = Counter()
    read_count = 0
    for file in files:
        for _, _, resource in read(file):
            if isinstance(resource, MalformedLine):
                totals.malformed.append(resource)
                continue
            by_type[resource["resourceType"]] += 1
            read_count += 1
            patient = patient_of(resource)
            if patient is not None:
                spill.add(patient, resource)
            if progress and read_count % READ_STEP == 0:
                progress.read(read_count)
    if progress:
        progress.read(read_count)
    totals.resources_by_type = dict(sorted(by_type.items()))


def _review(
    partitions: list[Path], review: str, workers: int, totals: Totals, progress: Progress | None
) -> list[FindingRow]:
    rows: list[FindingRow] = []
    if progress:
        progress.reviewed(0, len(partitions), 0)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(review,)) as pool:
        pending: list[Future[tuple[list[FindingRow], int, int]]] = [
            pool.submit(review_partition, str(path)) for path in partitions
        ]
        for done, future in enumerate(as_completed(pending), 1):
            found, patients, encounters = future.result()
            rows += found
            totals.patients += patients
            totals.encounters_reviewed += encounters
            if progress:
                progress.reviewed(done, len(partitions), totals.patients)
    return rows


_REVIEW: Review | None = None  # the worker's review, set once by _start


def _start(review: str) -> None:
    global _REVIEW
    _REVIEW = resolve(review)
    load_knowledge()  # once per worker, before its first patient


def review_partition(path: str, review: Review | None = None) -> tuple[list[FindingRow], int, int]:
    """(findings, patients, encounters reviewed) of one partition: the unit of work of a worker."""
    review = review or _REVIEW
    assert review is not None, "a worker reviews after _start"
    rows: list[FindingRow] = []
    patients = encounters = 0
    for patient_id, resources in load_partition(Path(path)):
        found, reviewed = review(patient_id, resources)
        rows += found
        patients += 1
        encounters += reviewed
    return rows, patients, encounters
