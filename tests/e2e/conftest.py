"""Servers for end-to-end tests, and hook calls whose 200 answers are held to the contract.

- `app` / `client`: `create_app()` with its own SQLite file (Flask tutorial style).
- `service`: the real service started with `cpt64640 serve` (gunicorn) on a free loopback port.
- `fhir_server`: the fixture FHIR server (`cpt64640 fhir-server fhir-fixtures/`) on a free port;
  `start_fhir_server(...)` starts more with latency, faults or a required token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

from cpt64640_cds.tools.cards import response_problems
from cpt64640_cds.tools.fhirserver import FixtureStore
from cpt64640_cds.tools.hook_requests import answer_prefetch, templates_of
from cpt64640_cds.tools.processes import Process, launch_fhir_server, start_service
from cpt64640_cds.web.app import create_app

from ..conftest import FIXTURES, SIGN
from ..postgres import postgres  # noqa: F401  (a fixture: a private PostgreSQL cluster per module)

# Tests run the service in development mode unless a test asks for authentication (e2e/test_security.py).
os.environ["CDS_AUTH"] = "off"


@pytest.fixture
def app(tmp_path: Path):
    return create_app({"database_url": f"sqlite:///{tmp_path / 'test.sqlite3'}", "request_deadline_ms": 1500})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def start_fhir_server() -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(*options: str) -> Process:
        started.append(launch_fhir_server([FIXTURES], *options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def fhir_server(start_fhir_server) -> Process:
    return start_fhir_server()


@pytest.fixture(scope="session")
def service(tmp_path_factory) -> Iterator[Process]:
    server = start_service(tmp_path_factory.mktemp("service"))
    yield server
    server.stop()


def post_hook(base_url: str, service_id: str, body: Any, **kwargs: Any) -> requests.Response:
    """POST a hook over HTTP; 200 answers are contract-checked."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    response = requests.post(f"{base_url}/cds-services/{service_id}", data=data, headers=headers, timeout=30, **kwargs)
    if response.status_code == 200:
        assert response_problems(response.json()) == []
    return response


def call(client: Any, service_id: str, body: Any) -> Any:
    """POST a hook through the Flask test client; 200 answers are contract-checked."""
    response = client.post(f"/cds-services/{service_id}", json=body)
    if response.status_code == 200:
        assert response_problems(response.get_json()) == []
    return response


@cache
def _ehr() -> FixtureStore:
    return FixtureStore([FIXTURES / "ehr"])


def prefetch_from(fhir_base: str | None, body: dict[str, Any], service_id: str = SIGN) -> dict[str, Any]:
    """What an EHR would send as prefetch: every template of the service read from a FHIR server.

    With a base URL the fixture server is asked over HTTP; with None, the same records answer in-process.
    """
    return answer_prefetch(templates_of(service_id), body["context"], fhir_base or _ehr())
