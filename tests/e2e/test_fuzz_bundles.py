"""Property tests: FHIR-ish hook calls, valid and adversarial, never make the service answer 5xx.

Hypothesis builds order-sign and order-select requests from the knowledge base's own words (nerves, sides,
agents, modalities, guidance, negations), CPT codes around 64640, SNOMED CT laterality, dates valid and not,
and then breaks them: wrong JSON types, nulls, empty arrays, huge and unicode strings, lone surrogates,
undecodable attachments (the strategies: cpt64640_cds.tools.fuzz). Every answer must be 200 with cards that
pass our contract, or a 4xx whose body is an OperationOutcome.

CI runs a small, derandomized sample. For a long run set CPT64640_FUZZ_EXAMPLES, e.g.
`CPT64640_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/e2e/test_fuzz_bundles.py` (docs/reliability.md).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpt64640_cds.tools.cards import response_problems
from cpt64640_cds.tools.fuzz import mutated

from ..conftest import SELECT, SIGN

LONG_RUN = int(os.environ.get("CPT64640_FUZZ_EXAMPLES") or 0)


def fuzz_settings(ci_examples: int) -> settings:
    return settings(
        max_examples=LONG_RUN or ci_examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


def post(client: Any, service_id: str, body: Any) -> None:
    response = client.post(f"/cds-services/{service_id}", json=body)
    status = response.status_code
    assert status < 500, f"{status}: {response.get_data(as_text=True)[:2000]}"
    if status == 200:
        assert response_problems(response.get_json()) == []
        return
    assert 400 <= status < 500, status
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"], outcome
    assert response.mimetype == "application/fhir+json"


@fuzz_settings(70)
@given(body=mutated(SIGN, anywhere=False, most=2))
def test_order_sign_bundles_never_5xx(client, body):
    post(client, SIGN, body)


@fuzz_settings(40)
@given(body=mutated(SELECT, anywhere=False, most=2))
def test_order_select_bundles_never_5xx(client, body):
    post(client, SELECT, body)


@fuzz_settings(50)
@given(data=st.data())
def test_wrong_types_and_missing_fields_anywhere_never_5xx(client, data):
    service_id = data.draw(st.sampled_from([SIGN, SELECT]))
    post(client, service_id, data.draw(mutated(service_id)))
