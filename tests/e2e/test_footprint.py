"""What a worker holds: it answers hooks without the ICD-10-CM package in memory (its tables cost seconds and
~170 MB; the codes and titles the knowledge base uses are data/icd10cm.json, generated at build time).

A fresh interpreter, so that the tests that import the package themselves do not hide an import by the app.
"""

from __future__ import annotations

import json
import subprocess
import sys

from cpt64640_cds.tools.cards import summarize
from cpt64640_cds.tools.fhirserver import FixtureStore
from cpt64640_cds.tools.hook_requests import answer_prefetch, templates_of, with_prefetch
from cpt64640_cds.tools.scenarios import discover

from ..conftest import FIXTURES, SIGN

WORKER = f"""
import json, sys
from cpt64640_cds.web.app import create_app
app = create_app({{"database_url": "sqlite://", "log_level": "WARNING", "auth": "off"}})
response = app.test_client().post("/cds-services/{SIGN}", json=json.load(sys.stdin))
modules = sorted(m for m in sys.modules if m.startswith(("simple_icd_10_cm", "cpt64640_cds.knowledge")))
print(json.dumps({{"status": response.status_code, "cards": response.get_json().get("cards"), "modules": modules}}))
"""


def test_a_hook_call_never_imports_the_icd10cm_package():
    (scenario,) = discover([FIXTURES / "scenarios" / "complete-neuropathic-pain"])
    record = FixtureStore(scenario.resources)
    body = with_prefetch(scenario.request, answer_prefetch(templates_of(SIGN), scenario.request["context"], record))
    worker = subprocess.run(
        [sys.executable, "-c", WORKER], input=json.dumps(body), capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 0, worker.stderr
    answer = json.loads(worker.stdout.splitlines()[-1])
    assert answer["status"] == 200
    assert summarize(answer["cards"]) == scenario.expected  # G57.12's group, side and nerve: the file's data
    assert "cpt64640_cds.knowledge.loader" in answer["modules"]
    assert "simple_icd_10_cm" not in answer["modules"]
