"""Findings and totals for the output tests: every column filled and empty, text that needs escaping."""

from __future__ import annotations

from datetime import UTC, datetime

from cpt64640_cds.audit.model import FindingRow, MalformedLine, Totals
from cpt64640_cds.audit.outputs import Run

ROWS = sorted(
    [
        FindingRow(
            "p1",
            "e1",
            "2025-03-04",
            "line-suggestion",
            "info",
            "64640",
            "LT",
            1,
            "lateral femoral cutaneous",
            "left",
            None,
            None,
            None,
            "Procedure/pr1 DocumentReference/d1",
            "2026.1",
        ),
        FindingRow(
            "p1",
            "e1",
            "2025-03-04",
            "bundled-guidance",
            "warning",
            None,
            None,
            None,
            None,
            None,
            "76942",
            None,
            1,
            "Procedure/pr1 ChargeItem/c1",
            "2026.1",
        ),
        FindingRow(
            "p2",
            "e9",
            "2025-04-30",
            "billed-units",
            "critical",
            "64640",
            "RT 59",
            2,
            "genicular",
            "right",
            "64640",
            "RT",
            1,
            "Procedure/pr7 Procedure/pr8 ChargeItem/c4",
            "2026.1",
        ),
        FindingRow(
            "p<3>",
            "e&4",
            None,
            "<script>alert(1)</script>",
            "warning",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            'Procedure/x"y',
            "2026.1",
        ),
    ]
)
TOTALS = Totals(
    resources_by_type={"Procedure": 5, "Patient": 3, "Organization": 1},
    patients=3,
    encounters_reviewed=4,
    malformed=[MalformedLine("Procedure.ndjson", n, "not JSON (Expecting value at column 1)") for n in range(1, 151)],
)
RUN = Run(
    "/data/export",
    "local",
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 5, 7, 500000, tzinfo=UTC),
    "2026.1",
)
