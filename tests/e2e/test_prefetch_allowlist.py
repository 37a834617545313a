"""The allowlist's path prefix holds end to end (issue 12): the service under gunicorn may send the token to
`http://127.0.0.1:<port>/fhir` only, the fixture FHIR server on that port answers everything and counts every
request, and no `fhirServer` or `next` link form that leaves `/fhir` after normalisation reaches it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from cpt64640_cds.tools.hook_requests import fetching, null_prefetch
from cpt64640_cds.tools.processes import Process, start_service

from ..conftest import SIGN, fixture_request
from .conftest import post_hook

TOKEN = "allowlist-token-5e2"
ESCAPES = [
    "/fhir/..",
    "/fhir/../Condition",
    "/fhir/%2e%2e",
    "/fhir/%2E%2E/",
    "/fhir/.%2e",
    "/fhir/%252e%252e",
    "/fhir/..%2f",
    "/fhir/..%5c",
    "/fhir/..\\",
    "/fhir/..;",
    "/fhir;/..",
    "/fhir/./..",
    "/fhir//..",
    "/fhir?/..",
    "/fhir#/..",
    "/fhir/x/../..",
]


@pytest.fixture(scope="module")
def fixture_fhir(start_fhir_server) -> Process:
    return start_fhir_server()


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory, fixture_fhir) -> Iterator[Process]:
    server = start_service(tmp_path_factory.mktemp("prefixed"), CDS_FHIR_ALLOWLIST=f"{fixture_fhir.base_url}/fhir")
    yield server
    server.stop()


def _requests(fhir: Process) -> int:
    count: int = requests.get(f"{fhir.base_url}/_stats", timeout=5).json()["requests"]
    return count


def test_no_fhir_server_outside_the_prefix_is_contacted(prefixed, fixture_fhir):
    before = _requests(fixture_fhir)
    for escape in ESCAPES:
        body = fetching(fixture_request("order-sign-lfcn-left"), fixture_fhir.base_url + escape, TOKEN)
        response = post_hook(prefixed.base_url, SIGN, body)
        assert response.status_code == 412, escape
        assert {issue["code"] for issue in response.json()["issue"]} == {"forbidden"}, escape
        assert "allowlist" in json.dumps(response.json())
    assert _requests(fixture_fhir) == before


def test_no_next_link_outside_the_prefix_is_followed(prefixed, fixture_fhir):
    # Every key given (null but conditions), so that the service contacts the server only for the next link.
    body = null_prefetch(fetching(fixture_request("order-sign-lfcn-left"), f"{fixture_fhir.base_url}/fhir", TOKEN))
    body["prefetch"]["conditions"] = requests.get(
        f"{fixture_fhir.base_url}/Condition?patient=neuro-1", timeout=5
    ).json()
    before = _requests(fixture_fhir)
    for escape in [e for e in ESCAPES if "?" not in e and "#" not in e] + ["/fhir/Condition#/../..", "/Condition"]:
        body["prefetch"]["conditions"]["link"] = [{"relation": "next", "url": f"{fixture_fhir.base_url}{escape}?p=2"}]
        response = post_hook(prefixed.base_url, SIGN, body)
        assert response.status_code == 200, escape
        assert "Data incomplete" in response.json()["cards"][0]["detail"], escape
    assert _requests(fixture_fhir) == before
    # The control: a next link under the prefix is followed (the fixture serves nothing under /fhir).
    body["prefetch"]["conditions"]["link"] = [
        {"relation": "next", "url": f"{fixture_fhir.base_url}/fhir/Condition?p=2"}
    ]
    assert post_hook(prefixed.base_url, SIGN, body).status_code == 200
    assert _requests(fixture_fhir) == before + 1
