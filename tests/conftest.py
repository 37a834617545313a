"""Shared test fixtures: a fresh app per test, and real servers on loopback for end-to-end tests.

- `app` / `client`: `create_app()` with its own SQLite file (Flask tutorial style).
- `service`: the real service started with `cpt64640 serve` (gunicorn) on a free loopback port.
- `fhir_server`: the fixture FHIR server (`cpt64640 fhir-server fhir-fixtures/`) on a free port;
  `start_fhir_server(...)` starts more with latency or a required token.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class

from cpt64640_cds.protocol import contract
from cpt64640_cds.protocol.prefetch.templates import resolve_template
from cpt64640_cds.protocol.services import all_services
from cpt64640_cds.tools.fhirserver import FixtureStore, create_fhir_app
from cpt64640_cds.web.app import create_app

# Tests run the service in development mode unless a test asks for authentication (tests/test_security.py).
os.environ["CDS_AUTH"] = "off"

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(tmp_path: Path):
    return create_app({"database_url": f"sqlite:///{tmp_path / 'test.sqlite3'}", "request_deadline_ms": 1500})


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Process:
    base_url: str
    process: subprocess.Popen
    log_path: Path | None = None

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8").splitlines() if self.log_path else []


def launch_fhir_server(*options: str, paths: tuple[str, ...] = (str(FIXTURES),)) -> Process:
    command = [sys.executable, "-m", "cpt64640_cds", "fhir-server", *paths, "--port", "0", *options]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, start_new_session=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"fixture FHIR server did not start: {line!r}")
    return Process(match.group(1), process)


@pytest.fixture(scope="session")
def start_fhir_server() -> Iterator[Any]:
    started: list[Process] = []

    def start(*options: str) -> Process:
        server = launch_fhir_server(*options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def fhir_server(start_fhir_server) -> Process:
    return start_fhir_server()


def start_service(tmp: Path, port: int | None = None, **env: str) -> Process:
    port = port or free_port()
    log_path = tmp / f"service-{port}.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CDS_")},
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp / f'service-{port}.sqlite3'}",
        "WORKERS": "2",
        "CDS_AUTH": "off",
        "CDS_REQUEST_DEADLINE_MS": "1500",
        "LOG_LEVEL": "INFO",
        **env,
    }
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cpt64640_cds", "serve"],
        env=environment,
        stdout=log,
        stderr=log,
        cwd=ROOT,
        start_new_session=True,
    )
    server = Process(f"http://127.0.0.1:{port}", process, log_path)
    for _ in range(150):
        try:
            if requests.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("service did not start:\n" + log_path.read_text())


@pytest.fixture(scope="session")
def service(tmp_path_factory) -> Iterator[Process]:
    server = start_service(tmp_path_factory.mktemp("service"))
    yield server
    server.stop()


def check_response(payload: Any) -> None:
    """Every 200 the tests see is held to the spec schema, our card contract and FHIR R4 (R4B models)."""
    assert contract.issues("cds-response", payload) == []
    assert contract.issues("cpt64640-response", payload) == []
    for card in payload["cards"]:
        assert len(card["summary"]) < 140
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                if "resource" in action:
                    resource = action["resource"]
                    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def post_hook(base_url: str, service_id: str, body: Any, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    response = requests.post(f"{base_url}/cds-services/{service_id}", data=data, headers=headers, timeout=30, **kwargs)
    if response.status_code == 200:
        check_response(response.json())
    return response


def call(client: Any, service_id: str, body: Any) -> Any:
    """POST a hook through the Flask test client; 200 answers are contract-checked."""
    response = client.post(f"/cds-services/{service_id}", json=body)
    if response.status_code == 200:
        check_response(response.get_json())
    return response


def prefetch_from(fhir_base: str | None, body: dict[str, Any], service_id: str = SIGN) -> dict[str, Any]:
    """What an EHR would send as prefetch: every template of the service read from a FHIR server.

    With a base URL the fixture server is asked over HTTP; with None, the same server app answers in-process.
    """
    local = None if fhir_base else create_fhir_app(FixtureStore([FIXTURES / "ehr"])).test_client()
    prefetch: dict[str, Any] = {}
    for key, spec in all_services()[service_id].prefetch.items():
        query = resolve_template(spec.template, body["context"])
        if query is None:
            continue
        if local is not None:
            response = local.get(f"/{query}")
            status, payload = response.status_code, response.get_json()
        else:
            answer = requests.get(f"{fhir_base}/{query}", timeout=10)
            status, payload = answer.status_code, answer.json()
        prefetch[key] = payload if status == 200 else None
    return prefetch


def fetching(body: dict[str, Any], server: str, token: str) -> dict[str, Any]:
    """The request without prefetch, pointing the service at `server` with a bearer token to fetch it all."""
    out = copy.deepcopy(body)
    out.pop("prefetch", None)
    out["fhirServer"] = server
    out["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "user/*.read",
        "subject": "cpt64640-cds",
    }
    return out


def with_prefetch(body: dict[str, Any], prefetch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["prefetch"] = prefetch
    return out


def null_prefetch(body: dict[str, Any], service_id: str = SIGN) -> dict[str, Any]:
    return with_prefetch(body, {key: None for key in all_services()[service_id].prefetch})


def lines_of(cards: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], int, str, str | None]]:
    """(code, modifiers, units, nerve, side) of every proposed ChargeItem, in card order."""
    out = []
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                item = action.get("resource", {})
                if action["type"] != "create" or item.get("resourceType") != "ChargeItem":
                    continue
                modifiers = tuple(e["valueCoding"]["code"] for e in item.get("extension", []))
                side = next(
                    (c["display"].lower() for b in item["bodysite"] for c in b.get("coding", [])),
                    None,
                )
                out.append(
                    (
                        item["code"]["coding"][0]["code"],
                        modifiers,
                        item["quantity"]["value"],
                        item["bodysite"][0]["text"],
                        side,
                    )
                )
    return out


def topics(cards: list[dict[str, Any]]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in cards]
