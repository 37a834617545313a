"""The OpenAPI 3.1 document at /openapi.json: valid, complete, self-contained, and true of the running service.

(a) The document validates as OpenAPI 3.1, names every discovered service, and its embedded hooks/ schemas
    behave like the originals (the official order-sign examples: good accepted, bad rejected).
(b) Schemathesis generates requests from it against the real service under gunicorn and checks that no
    answer is a 5xx and that statuses, content types and bodies are the documented ones.

The schemathesis run is CI-sized (about 300 cases). For a long run against a service you started yourself:
`CPT64640_SCHEMATHESIS_URL=http://127.0.0.1:<port> CPT64640_SCHEMATHESIS_EXAMPLES=2500 \
 .venv/bin/python -m pytest -q tests/e2e/test_openapi.py -k schemathesis -s` (docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import cpt64640_cds
from cpt64640_cds.protocol import contract
from cpt64640_cds.tools.hook_requests import null_prefetch

from ..conftest import SELECT, SIGN, TEST_CASES, fixture_request, load

DOC_URI = "urn:cpt64640-cds:openapi"
SEED = 64640
LONG_EXAMPLES = int(os.environ.get("CPT64640_SCHEMATHESIS_EXAMPLES") or 0)
EXTERNAL_URL = os.environ.get("CPT64640_SCHEMATHESIS_URL", "").rstrip("/")

# What schemathesis checks: no 5xx; every status, content type, header and body is the documented one; the
# service accepts what the schemas allow and rejects what they forbid; a wrong method gets 405 with Allow.
# Left out on purpose:
# - ignored_auth, missing_required_header: the service under test runs with CDS_AUTH=off (development), so an
#   absent or bad JWT is accepted by design; tests/unit/security/ and tests/e2e/test_security.py cover it.
# - use_after_free, ensure_resource_availability, object_level_authorization: stateful checks for APIs that
#   create resources; this one creates none.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
]

# A request valid against the schema may still lack a required prefetch key and no fhirServer can supply it:
# that is a 412 by design, not a rejection of valid data.
CONFIG = """
hooks = {hooks}

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "412"]
"""

# Schemathesis hook: a generated request rarely carries the prefetch keys, so nearly every call would stop at
# the 412 for missing required prefetch. Three requests in four get the service's declared keys (as listed in
# the request schema) filled with null ("no data"), so they reach the whole pipeline; the rest keep the 412.
HOOKS = """
import json
import zlib

import schemathesis


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.method.upper() != "POST" or operation.path.endswith("/feedback"):
        return body
    if not isinstance(body, dict) or not isinstance(body.get("prefetch", {}), dict):
        return body
    if zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode("utf-8", "surrogatepass")) % 4 == 0:
        return body
    schema = operation.definition.raw["requestBody"]["content"]["application/json"]["schema"]
    keys = schema.get("properties", {}).get("prefetch", {}).get("properties", {})
    return {**body, "prefetch": {**{key: None for key in keys}, **body.get("prefetch", {})}}
"""


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def validator_for(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A JSON Schema validator for one schema inside the document, its internal $refs resolved in place."""
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref" and isinstance(v, str)] + [
            r for k, v in node.items() if k != "$ref" for r in refs(v)
        ]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate_openapi(document, cls=OpenAPIV31SpecValidator)


def test_document_lists_every_discovered_service(client, document):
    services = client.get("/cds-services").get_json()["services"]
    assert {s["id"] for s in services} == {SIGN, SELECT, "cpt64640-encounter-discharge"}
    expected = {"/cds-services", "/healthz", "/readyz", "/metrics", "/openapi.json"}
    for service in services:
        expected |= {f"/cds-services/{service['id']}", f"/cds-services/{service['id']}/feedback"}
        call = document["paths"][f"/cds-services/{service['id']}"]["post"]
        body = call["requestBody"]["content"]["application/json"]["schema"]
        assert body["allOf"] == [{"$ref": f"#/components/schemas/{service['hook']}-request"}]
        assert set(body["properties"]["prefetch"]["properties"]) == set(service["prefetch"])
        assert set(call["responses"]) == {"200", "400", "401", "404", "412", "413"}
    assert set(document["paths"]) == expected
    health = client.get("/healthz").get_json()
    assert (document["info"]["version"], document["info"]["x-rule-set-version"]) == (
        health["version"],
        health["ruleSetVersion"],
    )
    assert health["version"] == cpt64640_cds.__version__


def test_cds_routes_document_the_bearer_jwt_and_operations_routes_are_open(document):
    scheme = document["components"]["securitySchemes"]["cdsHooksJwt"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path, item in document["paths"].items():
        for operation in item.values():
            if path.startswith("/cds-services"):
                assert operation["security"] == [{"cdsHooksJwt": []}], path
            else:
                assert "security" not in operation, path


def test_document_is_self_contained_and_embeds_every_contract_schema(document):
    schemas = document["components"]["schemas"]
    for path in sorted(contract.CONTRACT_DIR.glob("*.schema.json")):
        name = load(path)["$id"].removeprefix("urn:cpt64640-cds:hooks:")
        assert name in schemas, path.name
        assert "$id" not in schemas[name]
    all_refs = refs(document)
    assert all_refs
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012))
    resolver = registry.resolver(DOC_URI)
    for ref in set(all_refs):
        assert ref.startswith("#/components/schemas/"), ref
        resolver.lookup(ref)  # raises when the pointer leads nowhere


def test_embedded_request_schema_accepts_the_official_good_example_and_rejects_the_bad_one(document):
    good = load(TEST_CASES / "cdshooks-request-order-sign-good.json")
    bad = load(TEST_CASES / "cdshooks-request-order-sign-bad-1.json")
    for pointer in (
        "/components/schemas/order-sign-request",
        f"/paths/~1cds-services~1{SIGN}/post/requestBody/content/application~1json/schema",
    ):
        validator = validator_for(document, pointer)
        assert list(validator.iter_errors(good)) == [], pointer
        errors = list(validator.iter_errors(bad))
        assert errors, pointer
    # The same verdict, field for field, as the contract check the service runs.
    assert [i.expression for i in contract.issues("order-sign-request", bad)] == ["context.patientId"]
    select = validator_for(
        document, f"/paths/~1cds-services~1{SELECT}/post/requestBody/content/application~1json/schema"
    )
    assert list(select.iter_errors(load(TEST_CASES / "cdshooks-request-order-select-good.json"))) == []
    assert list(select.iter_errors(load(TEST_CASES / "cdshooks-request-order-select-bad.json")))


def test_documented_answers_match_real_ones(client, document):
    """A 200 with cards, a 400, a 404 and a feedback answer, each valid against its documented schema."""
    path = f"/paths/~1cds-services~1{SIGN}/post/responses"
    answer = client.post(f"/cds-services/{SIGN}", json=null_prefetch(fixture_request("order-sign-lfcn-left")))
    assert answer.status_code == 200 and answer.get_json()["cards"]
    validator_for(document, f"{path}/200/content/application~1json/schema").validate(answer.get_json())
    bad = client.post(f"/cds-services/{SIGN}", json={"hook": "order-sign"})
    assert bad.status_code == 400 and bad.mimetype == "application/fhir+json"
    validator_for(document, f"{path}/400/content/application~1fhir+json/schema").validate(bad.get_json())
    missing = client.post("/cds-services/no-such-service", json={})
    validator_for(document, f"{path}/404/content/application~1fhir+json/schema").validate(missing.get_json())
    card = answer.get_json()["cards"][0]["uuid"]
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    feedback = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [item]})
    assert feedback.status_code == 200
    validator_for(
        document, f"/paths/~1cds-services~1{SIGN}~1feedback/post/responses/200/content/application~1json/schema"
    ).validate(feedback.get_json())


def schemathesis_command(
    base_url: str, work: Path, examples: int, phases: str, checks: list[str]
) -> tuple[list[str], Path]:
    hooks = work / "cpt64640_schemathesis_hooks.py"
    hooks.write_text(HOOKS, encoding="utf-8")
    config = work / "schemathesis.toml"
    config.write_text(CONFIG.format(hooks=json.dumps(str(hooks))), encoding="utf-8")
    report = work / "schemathesis-report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        ",".join(checks),
        "--phases",
        phases,
        "--max-examples",
        str(examples),
        "--seed",
        str(SEED),
        "--generation-with-security-parameters",
        "false",
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    return command, report


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(request, tmp_path):
    base_url = EXTERNAL_URL or request.getfixturevalue("service").base_url
    # CI: the fuzzing phase, 80 examples per hook and feedback operation (about 330 cases, ~10 s).
    # Long run: the coverage phase (boundary and negative values) as well, with as many examples as asked.
    if LONG_EXAMPLES:
        examples, phases, checks = LONG_EXAMPLES, "coverage,fuzzing", CHECKS
    else:
        examples, phases, checks = 80, "fuzzing", CHECKS
    command, report_path = schemathesis_command(base_url, tmp_path, examples, phases, checks)
    if LONG_EXAMPLES:
        command.append("--continue-on-failure")  # count every failing case, not only the first per operation
    run = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=tmp_path)
    output = run.stdout[-20_000:] + run.stderr[-5_000:]
    if LONG_EXAMPLES:
        print(output, f"JSON report: {report_path}", sep="\n")
    assert report_path.exists(), output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    cases = report["test_cases"]
    assert report["complete"], output
    assert report["operations"]["tested"] == report["operations"]["selected"] >= 7, output
    assert cases["generated"] >= (4 * examples if LONG_EXAMPLES else 200), output
    assert report["failures"] == [] and report["errors"] == [], output
    assert cases["with_failures"] == 0 and cases["errored"] == 0, output
    assert run.returncode == 0 and report["exit_code"] == 0, output
