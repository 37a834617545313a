"""The Apache Spark engine: the export's NDJSON read by Spark, resources partitioned by patient, and the review
function (named "module:function") imported and run on the executors, each patient's resources in export order.

On a cluster the executors import `cpt64640_cds` (and the review's module) from their own Python: install the
package there (`pip install cpt64640-cds[spark]`) or ship a packed virtual environment with `spark-submit
--archives` (docs/audit.md). The driver and executors need nothing else of this machine."""

from __future__ import annotations

import itertools
import math
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cpt64640_cds

from .lines import parse_line, patient_of
from .model import COLUMNS, DEFAULT_REVIEW, FindingRow, MalformedLine, Review, Totals, resolve

if TYPE_CHECKING:
    from pyspark import RDD, SparkContext
    from pyspark.sql import SparkSession

MALFORMED_LISTED = 10_000  # malformed lines listed one by one; all are counted
RESOURCES_PER_PARTITION = 50_000  # a partition's patients are reviewed one after another by one Python worker

# An export line as read: (file's position in the export, file label, 1-based line number, text).
Line = tuple[int, str, int, str]
# Where a resource stands in the export, after its patient: the sort key that keeps export order per patient.
Position = tuple[str, int, int]
# A line parsed: a tag ("resource", "orphan", "malformed") and what goes with it (_parse).
Parsed = tuple[str, Any]


def spark_session(master: str | None = None) -> SparkSession:
    """The active session when there is one (spark-submit, a notebook), else a new one on `master` (local[*]
    when None). A local session is quiet and loopback-only: no web UI, the driver bound to 127.0.0.1."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    master = master or "local[*]"
    builder = (
        SparkSession.builder.master(master)
        .appName("cpt64640 audit")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # the caller's progress display is the one shown
    )
    if master.startswith("local"):
        # The Python workers are this interpreter, importing this package from where the driver found it. On a
        # cluster both are the executors' own (the package installed there), and the driver must be reachable:
        # left to the cluster's settings.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        package_parent = str(Path(cpt64640_cds.__file__).resolve().parents[1])
        python_path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
        builder = (
            builder.config("spark.executorEnv.PYTHONPATH", python_path)
            .config("spark.driver.bindAddress", "127.0.0.1")  # nothing listens beyond loopback
            .config("spark.driver.host", "127.0.0.1")
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def run_spark(
    files: list[tuple[str, str]],
    review: str = DEFAULT_REVIEW,
    *,
    master: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[FindingRow], Totals]:
    """Review every patient of the export's `files` ((label as named in the export, local path or URI), in export
    order) with `review` ("module:function", a `Review`) on Spark. Returns the rows sorted, as the local engine
    does, and the totals. A session this call started is stopped at the end; an active one is left running."""
    from pyspark import StorageLevel
    from pyspark.sql import SparkSession

    _resolve(review)  # a misspelt review fails here, before Spark starts
    if not files:
        return [], Totals()
    say = progress or (lambda _stage: None)
    owned = SparkSession.getActiveSession() is None
    session = spark_session(master)
    sc = session.sparkContext
    try:
        say(f"reading {len(files)} files")
        lines = sc.union([_read(sc, index, label, path) for index, (label, path) in enumerate(files)])
        parsed = lines.flatMap(_parse).persist(StorageLevel.MEMORY_AND_DISK)  # read once, counted then reviewed

        counts = parsed.flatMap(_counted).countByValue()  # counted per partition, summed on the driver
        totals = Totals(resources_by_type={kind: n for (tag, kind), n in sorted(counts.items()) if tag == "type"})
        malformed = counts.get(("malformed", ""), 0)
        if malformed:
            listed = parsed.filter(lambda item: item[0] == "malformed").map(lambda item: item[1])
            first = listed.takeOrdered(MALFORMED_LISTED, key=lambda m: (m[0], m[2]))
            totals.malformed = [MalformedLine(label, line, problem) for _index, label, line, problem in first]
            listing = f", the first {len(first)} listed" if len(first) < malformed else ""
            say(f"{malformed} malformed lines skipped{listing}")

        with_patient = counts.get(("patient", ""), 0)
        partitions = max(sc.defaultParallelism, math.ceil(with_patient / RESOURCES_PER_PARTITION))
        say(f"reviewing {with_patient} resources in {partitions} partitions")
        keyed: RDD[tuple[Position, dict[str, Any]]] = parsed.filter(lambda item: item[0] == "resource").map(
            lambda item: item[1]
        )
        by_patient = keyed.repartitionAndSortWithinPartitions(partitions, partitionFunc=_patient_partition)
        results = by_patient.mapPartitions(_reviewer(review)).collect()
        parsed.unpersist()
    finally:
        if owned:
            session.stop()

    rows: list[FindingRow] = []
    for kind, value in results:
        if kind == "row":
            rows.append(FindingRow(*value))
        else:
            totals.patients += 1
            totals.encounters_reviewed += value
    rows.sort()
    say(f"reviewed {totals.patients} patients")
    return rows, totals


def _read(sc: SparkContext, index: int, label: str, path: str) -> RDD[Line]:
    """One file's lines with their 1-based numbers and the file's label (a function of its own: the label is
    bound per file, not by the loop's last value). One partition per storage block (gzip: per file): the line
    numbers need a pass over the file per extra partition."""
    # Hadoop decodes UTF-8 with replacement: bytes that are not UTF-8 arrive as U+FFFD, never failing the job.
    lines: RDD[str] = sc.textFile(path, minPartitions=1)
    return lines.zipWithIndex().map(lambda pair: (index, label, pair[1] + 1, pair[0]))


def _parse(line: Line) -> list[Parsed]:
    """[("resource", ((patient, file index, line), resource))], [("orphan", type)] for a resource naming no
    patient, [("malformed", (file index, label, line, problem))], or [] for a blank line."""
    index, label, number, text = line
    value = parse_line(label, number, text)
    if value is None:
        return []
    if isinstance(value, MalformedLine):
        return [("malformed", (index, value.file, value.line, value.problem))]
    patient = patient_of(value)
    if patient is None:
        return [("orphan", value["resourceType"])]
    return [("resource", ((patient, index, number), value))]


def _counted(item: Parsed) -> list[tuple[str, str]]:
    """What one parsed line counts as: its resource type and whether it has a patient, or a malformed line."""
    tag, value = item
    if tag == "malformed":
        return [("malformed", "")]
    if tag == "orphan":
        return [("type", value)]
    return [("type", value[1]["resourceType"]), ("patient", "")]


def _patient_partition(position: Position) -> int:
    """A patient's partition: crc32 of the id, the same on every executor and every run (Python's str hash is
    salted per process)."""
    return zlib.crc32(position[0].encode("utf-8"))


def _reviewer(review: str) -> Callable[[Iterable[tuple[Position, dict[str, Any]]]], Iterator[tuple[str, Any]]]:
    """The partition function: a partition's resources arrive sorted by (patient, file, line), so each patient's
    resources are consecutive and in export order; ("row", values) per finding and ("patient", encounters) per
    patient go back to the driver as plain tuples."""

    def review_partition(items: Iterable[tuple[Position, dict[str, Any]]]) -> Iterator[tuple[str, Any]]:
        function = _resolve(review)
        for patient, group in itertools.groupby(items, key=lambda item: item[0][0]):
            rows, encounters = function(patient, [resource for _position, resource in group])
            for row in rows:
                yield "row", tuple(getattr(row, column) for column in COLUMNS)
            yield "patient", encounters

    return review_partition


@cache
def _resolve(review: str) -> Review:
    """The review, imported once per Python worker (a function of its own: Spark pickles it by name)."""
    return resolve(review)
