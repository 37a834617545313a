"""The fixture FHIR server over HTTP: the searches our prefetch templates and the tests rely on."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cpt64640_cds.tools.fhirserver import FixtureStore

TOKEN = "t0k3n"


def _get(server, path, **kwargs):
    return requests.get(f"{server.base_url}/{path}", timeout=10, **kwargs)


def _ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_metadata_and_read(fhir_server):
    assert _get(fhir_server, "metadata").json()["fhirVersion"] == "4.0.1"
    assert _get(fhir_server, "Patient/neuro-1").json()["id"] == "neuro-1"
    missing = _get(fhir_server, "Patient/nobody")
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_search_parameters(fhir_server):
    assert len(_ids(_get(fhir_server, "Condition?patient=neuro-1").json())) == 3
    assert len(_ids(_get(fhir_server, "Condition?subject=Patient/neuro-1").json())) == 3
    assert _ids(_get(fhir_server, "Condition?patient=someone-else").json()) == []
    assert _ids(_get(fhir_server, "Procedure?encounter=enc-done").json()) == ["proc-gon-right"]
    assert _ids(_get(fhir_server, "Condition?_id=cond-htn,cond-meralgia").json()) == ["cond-meralgia", "cond-htn"]
    assert _ids(
        _get(fhir_server, "Condition?patient=neuro-1&code=http://hl7.org/fhir/sid/icd-10-cm|M54.81").json()
    ) == ["cond-occipital"]
    assert _ids(_get(fhir_server, "Procedure?patient=neuro-1&code=64640&status=completed").json()) == ["proc-gon-right"]
    assert _ids(_get(fhir_server, "Procedure?status=entered-in-error").json()) == []
    assert _ids(_get(fhir_server, "Condition?patient=neuro-1&_sort=-date").json()) == [
        "cond-meralgia",
        "cond-occipital",
        "cond-htn",
    ]
    posted = requests.post(f"{fhir_server.base_url}/Condition/_search", data={"_id": "cond-htn"}, timeout=10)
    assert _ids(posted.json()) == ["cond-htn"]


def test_count_and_paging(fhir_server):
    page = _get(fhir_server, "Condition?patient=neuro-1&_count=2").json()
    assert page["total"] == 3 and len(page["entry"]) == 2
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    last = requests.get(next_url, timeout=10).json()
    assert len(last["entry"]) == 1
    assert not [link for link in last["link"] if link["relation"] == "next"]


def test_urn_uuid_references_of_transaction_bundles_are_resolved(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "aaa"}},
            {
                "fullUrl": "urn:uuid:bbb",
                "resource": {"resourceType": "Condition", "id": "bbb", "subject": {"reference": "urn:uuid:aaa"}},
            },
        ],
    }
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    store = FixtureStore([tmp_path])
    assert store.by_type["Condition"]["bbb"]["subject"]["reference"] == "Patient/aaa"


def test_bearer_token_option(start_fhir_server):
    server = start_fhir_server("--token", TOKEN)
    assert _get(server, "Patient/neuro-1").status_code == 401
    assert _get(server, "Patient/neuro-1", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_cors_preflight(fhir_server):
    response = requests.options(f"{fhir_server.base_url}/Patient/neuro-1", headers={"Origin": "https://x"}, timeout=10)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_date_search(fhir_server):
    assert _ids(_get(fhir_server, "Procedure?patient=neuro-1&date=2026-11-10").json()) == ["proc-gon-right"]
    assert _ids(_get(fhir_server, "Procedure?patient=neuro-1&date=ge2026-11-01").json()) == ["proc-gon-right"]
    assert _ids(_get(fhir_server, "Procedure?patient=neuro-1&date=lt2026-11-01").json()) == ["proc-pt"]
    assert _ids(_get(fhir_server, "ImagingStudy?patient=neuro-1&started=2026-11-10").json()) == ["img-us-1"]


def test_fail_rate_fault(start_fhir_server):
    server = start_fhir_server("--fail-rate", "1")
    response = _get(server, "Patient/neuro-1")
    assert response.status_code == 500 and response.json()["issue"][0]["code"] == "transient"


def test_malformed_response_fault(start_fhir_server):
    server = start_fhir_server("--malformed-rate", "1")
    response = _get(server, "Condition?patient=neuro-1")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_latency_fault(start_fhir_server):
    server = start_fhir_server("--latency", "300")
    started = time.monotonic()
    assert _get(server, "Patient/neuro-1").status_code == 200
    assert time.monotonic() - started >= 0.3  # a floor, not a speed test: the delay was injected
