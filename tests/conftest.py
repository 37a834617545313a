"""What both halves of the suite share: where the fixtures are, and the two service ids.

- `tests/unit/`: one folder per stage of `cpt64640_cds` (STAGES), calling its functions directly.
- `tests/e2e/`: everything through HTTP (the Flask test client included), gunicorn, the fixture FHIR server,
  the databases and the headless browser; its conftest starts the servers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir-fixtures"
REQUESTS = FIXTURES / "requests"
EXAMPLES = ROOT / "tests" / "examples" / "cds-hooks"
TEST_CASES = EXAMPLES / "more" / "fhir-test-cases"  # the HL7 validator's test cases, with expected outcomes
SIGN = "cpt64640-order-sign"
SELECT = "cpt64640-order-select"


def load(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def fixture_request(name: str) -> dict[str, Any]:
    return load(REQUESTS / f"{name}.json")


def expected_errors(test_case: Path) -> int:
    """How many errors the HL7 validator expects for one of its test cases."""
    outcome = load(TEST_CASES / "expected" / f"{test_case.stem}.expected-outcome.json")
    return sum(1 for issue in outcome.get("issue", []) if issue["severity"] in ("error", "fatal"))
