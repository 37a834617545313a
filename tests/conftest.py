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
SIGN = "cpt64640-order-sign"
SELECT = "cpt64640-order-select"


def load(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def fixture_request(name: str) -> dict[str, Any]:
    return load(REQUESTS / f"{name}.json")
