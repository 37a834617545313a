"""Hostile clients against the real service (gunicorn, 2 workers) with `CDS_AUTH=required`, the way they were
found: a token bound to one EHR's FHIR server aimed at another's, a forged Host, replays landing on the other
worker (and on another instance sharing PostgreSQL), a key rotation, a dripping JWKS URL under a flood of
junk kids, client-chosen strings meant for the logs, and numbers JSON does not have.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.exc import OperationalError

from cpt64640_cds.config import ConfigError, Settings
from cpt64640_cds.store.schema import upgrade
from cpt64640_cds.tools.hook_requests import fetching, null_prefetch
from cpt64640_cds.tools.processes import Process, free_port, start_service
from cpt64640_cds.web.app import create_app

from ..conftest import FIXTURES, SIGN, fixture_request
from .conftest import post_hook
from .test_storage import POSTGRES_URL, _postgres_available

ISSUER_A = "https://ehr-a.example.org"
ISSUER_B = "https://ehr-b.example.org"
ISSUER_ROTATING = "https://ehr-rotating.example.org"
ISSUER_DRIPPING = "https://ehr-dripping.example.org"
SYNTHEA_RECORD = "Evelyn_McCullough_b3e8d121-f742-438c-92e3-02135e4543d5.json"


class ConnectionCounter:
    """A TCP listener that counts connections and closes them: stands for a FHIR server whose traffic we watch."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


class JwksServer:
    """Serves a JWK Set that a test can change (key rotation); `drip=True` sends it one byte a second."""

    def __init__(self, document: dict[str, Any], drip: bool = False) -> None:
        self.document = document
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for byte in body if drip else [body]:
                        self.wfile.write(bytes([byte]) if drip else byte)  # type: ignore[arg-type]
                        self.wfile.flush()
                        if drip:
                            time.sleep(1)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _public(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES384"}


def _token(key: ec.EllipticCurvePrivateKey, kid: str, iss: str, aud: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, key, algorithm="ES384", headers={"kid": kid, "typ": "JWT"})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Deployment:
    """The service with four trusted issuers: A and B each bound to their own FHIR server (both on the global
    allowlist), one whose keys rotate at a JWKS URL, and one whose JWKS URL drips."""

    def __init__(self, folder: Path, database_url: str | None = None) -> None:
        self.key_a = ec.generate_private_key(ec.SECP384R1())
        self.key_b = ec.generate_private_key(ec.SECP384R1())
        self.rotating_1 = ec.generate_private_key(ec.SECP384R1())
        self.rotating_2 = ec.generate_private_key(ec.SECP384R1())
        self.fhir_a, self.fhir_b = ConnectionCounter(), ConnectionCounter()
        self.rotating = JwksServer({"keys": [_public(self.rotating_1, "r1")]})
        self.dripping = JwksServer({"keys": [_public(self.key_a, "never-used")]}, drip=True)
        self.fhir_url_a = f"https://127.0.0.1:{self.fhir_a.port}/fhir"
        self.fhir_url_b = f"https://127.0.0.1:{self.fhir_b.port}/fhir"
        issuers = {
            ISSUER_A: {"jwks": {"keys": [_public(self.key_a, "a1")]}, "fhir_servers": [self.fhir_url_a]},
            ISSUER_B: {"jwks": {"keys": [_public(self.key_b, "b1")]}, "fhir_servers": [self.fhir_url_b]},
            ISSUER_ROTATING: {"jwks_urls": [self.rotating.url]},
            ISSUER_DRIPPING: {"jwks_urls": [self.dripping.url]},
        }
        (folder / "issuers.json").write_text(json.dumps(issuers))
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {
            "CDS_AUTH": "required",
            "CDS_TRUSTED_ISSUERS": str(folder / "issuers.json"),
            "CDS_PUBLIC_BASE_URL": self.base,
            "CDS_FHIR_ALLOWLIST": f"{self.fhir_url_a},{self.fhir_url_b}",
        }
        if database_url:
            env["DATABASE_URL"] = database_url
        self.service: Process = start_service(folder, port, **env)

    def url(self, path: str = f"/cds-services/{SIGN}") -> str:
        return self.base + path

    def close(self) -> None:
        self.service.stop()
        for server in (self.fhir_a, self.fhir_b, self.rotating, self.dripping):
            server.close()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("hostile"))
    yield deployment
    deployment.close()


def _sign_body() -> dict[str, Any]:
    return null_prefetch(fixture_request("order-sign-lfcn-left"))


def test_a_token_bound_to_one_fhir_server_never_reaches_another(deployment):
    body = fetching(fixture_request("order-sign-lfcn-left"), deployment.fhir_url_b, "token-of-a")
    for _ in range(10):
        token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
        response = post_hook(deployment.base, SIGN, body, headers=_bearer(token))
        assert response.status_code == 412
        assert "forbidden" in json.dumps(response.json())
    assert deployment.fhir_b.connections == 0
    # The control: A's own server is contacted (and fails TLS here, as nothing speaks it).
    own = fetching(fixture_request("order-sign-lfcn-left"), deployment.fhir_url_a, "token-of-a")
    token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
    assert post_hook(deployment.base, SIGN, own, headers=_bearer(token)).status_code == 412
    assert deployment.fhir_a.connections >= 1 and deployment.fhir_b.connections == 0


def test_the_audience_never_comes_from_the_host_header(deployment):
    forged_base = "http://cds.attacker.example"
    token = _token(deployment.key_a, "a1", ISSUER_A, forged_base + f"/cds-services/{SIGN}")
    headers = {**_bearer(token), "Host": "cds.attacker.example", "X-Forwarded-Proto": "http"}
    assert post_hook(deployment.base, SIGN, _sign_body(), headers=headers).status_code == 401
    token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
    headers = {**_bearer(token), "Host": "cds.attacker.example"}
    assert post_hook(deployment.base, SIGN, _sign_body(), headers=headers).status_code == 200


def test_required_authentication_needs_a_public_base_url():
    with pytest.raises(ConfigError, match="CDS_PUBLIC_BASE_URL"):
        Settings.from_env({}, auth="required", sandbox_issuer=True)
    with pytest.raises(ConfigError, match="CDS_PUBLIC_BASE_URL"):
        Settings.from_env({}, auth="required", sandbox_issuer=True, public_base_urls=("cds.example.org",))


def test_a_replayed_token_is_refused_by_every_worker(deployment):
    accepted = 0
    for _ in range(12):
        token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
        first = post_hook(deployment.base, SIGN, _sign_body(), headers={**_bearer(token), "Connection": "close"})
        assert first.status_code == 200
        again = post_hook(deployment.base, SIGN, _sign_body(), headers={**_bearer(token), "Connection": "close"})
        accepted += again.status_code == 200
    assert accepted == 0


def test_a_replay_to_another_instance_on_the_same_postgresql_is_refused(tmp_path):
    if not _postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (scripts/system-deps starts it as root)")
    upgrade(POSTGRES_URL)  # the service's store does no DDL on PostgreSQL
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = Deployment(tmp_path / "one", POSTGRES_URL)
    key = first.key_a
    try:
        second = _second_instance(tmp_path / "two", first, POSTGRES_URL)
        try:
            for _ in range(3):
                jti = str(uuid.uuid4())
                to_first = _token(key, "a1", ISSUER_A, first.url(), jti=jti)
                to_second = _token(key, "a1", ISSUER_A, second.base_url + f"/cds-services/{SIGN}", jti=jti)
                assert post_hook(first.base, SIGN, _sign_body(), headers=_bearer(to_first)).status_code == 200
                assert post_hook(second.base_url, SIGN, _sign_body(), headers=_bearer(to_second)).status_code == 401
        finally:
            second.stop()
    finally:
        first.close()


def _second_instance(folder: Path, first: Deployment, database_url: str) -> Process:
    """Another instance trusting the same issuer A, sharing the database."""
    issuers = {ISSUER_A: {"jwks": {"keys": [_public(first.key_a, "a1")]}}}
    (folder / "issuers.json").write_text(json.dumps(issuers))
    port = free_port()
    return start_service(
        folder,
        port,
        CDS_AUTH="required",
        CDS_TRUSTED_ISSUERS=str(folder / "issuers.json"),
        CDS_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=database_url,
    )


def test_a_rotated_key_is_accepted_within_seconds_by_every_worker(deployment):
    time.sleep(5.5)  # past the refetch interval of the fetch each worker made at start
    deployment.rotating.document = {
        "keys": [_public(deployment.rotating_1, "r1"), _public(deployment.rotating_2, "r2")]
    }
    statuses = []
    for _ in range(6):
        token = _token(deployment.rotating_2, "r2", ISSUER_ROTATING, deployment.url())
        statuses.append(
            post_hook(
                deployment.base, SIGN, _sign_body(), headers={**_bearer(token), "Connection": "close"}
            ).status_code
        )
    assert statuses == [200] * 6
    assert deployment.rotating.hits <= 2 + 2  # at start and at rotation, per worker


def test_a_dripping_jwks_url_under_a_flood_of_junk_kids_holds_no_one_up(deployment):
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            # Unsigned: a header naming an unknown kid of the dripping issuer, a payload, a junk signature.
            header = {"alg": "ES384", "kid": str(uuid.uuid4()), "typ": "JWT"}
            payload = {"iss": ISSUER_DRIPPING, "aud": deployment.url(), "jti": str(uuid.uuid4())}
            parts = [jwt.utils.base64url_encode(json.dumps(p).encode()).decode() for p in (header, payload)]
            token = ".".join([*parts, "AAAA"])
            requests.post(deployment.url(), headers=_bearer(token), json={}, timeout=30)

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(16):
            pool.submit(flood)
        try:
            time.sleep(1)
            slowest = 0.0
            for _ in range(10):
                started = time.monotonic()
                assert requests.get(deployment.url("/healthz"), timeout=10).status_code == 200
                token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
                assert post_hook(deployment.base, SIGN, _sign_body(), headers=_bearer(token)).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.3)
        finally:
            stop.set()
    assert slowest < 2.0
    assert 1 <= deployment.dripping.hits <= 4  # a fetch or two per worker, not one per junk token


def test_client_chosen_strings_never_reach_the_log(deployment):
    marker = "zz" + uuid.uuid4().hex
    body = _sign_body()
    body["hookInstance"] = f"not-a-uuid-{marker}"
    body["prefetch"][f"key-{marker}"] = {"resourceType": "Bundle", "entry": [{}] * 6000}
    token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url(), tenant=f"tenant-{marker}")
    assert post_hook(deployment.base, SIGN, body, headers=_bearer(token)).status_code == 413
    body = _sign_body()
    body["hookInstance"] = f"not-a-uuid-{marker}"
    body["context"][f"ctx-{marker}"] = {"deep": [1, 2]}
    token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url(), tenant=f"tenant-{marker}", jti=marker)
    assert post_hook(deployment.base, SIGN, body, headers=_bearer(token)).status_code == 200
    body["context"]["patientId"] = 7  # a contract error at a known path
    token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
    assert post_hook(deployment.base, SIGN, body, headers=_bearer(token)).status_code == 400
    time.sleep(0.3)
    text = "\n".join(deployment.service.log_lines())
    assert marker not in text
    assert '"issues": ["prefetch.*"]' in text and '"context.patientId"' in text


def test_patient_data_is_never_cacheable(deployment):
    token = _token(deployment.key_a, "a1", ISSUER_A, deployment.url())
    answer = post_hook(deployment.base, SIGN, _sign_body(), headers=_bearer(token))
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    refused = post_hook(deployment.base, SIGN, _sign_body())
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"x": NaN}', "context.x"),
        ('{"x": Infinity}', "context.x"),
        ('{"x": -Infinity}', "context.x"),
        ('{"x": 1e309}', "context.x"),
        ('{"x": [1, 2, -1E400]}', "context.x[2]"),
    ],
)
def test_numbers_json_does_not_have_are_400_naming_the_field(service, text, where):
    body = json.dumps(_sign_body())
    raw = body.replace('"context": {', f'"context": {{"x0": 0, {text[1:-1]}, ', 1)
    response = post_hook(service.base_url, SIGN, raw)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == [where] and "finite number" in issue["diagnostics"]


def test_a_body_of_nested_arrays_is_refused_before_it_is_parsed(service):
    nested = "[" * 50 + "]" * 50
    raw = json.dumps(_sign_body()).replace('"context": {', f'"context": {{"x": [{",".join([nested] * 5000)}], ', 1)
    started = time.monotonic()
    response = post_hook(service.base_url, SIGN, raw)
    assert response.status_code == 413 and response.json()["issue"][0]["code"] == "too-costly"
    assert time.monotonic() - started < 1.0


def _large_body(megabytes: float) -> str:
    """A real order-sign request whose `conditions` carry a Synthea patient's resources, repeated to the size."""
    record = json.loads((FIXTURES / "external" / "smart-sandbox" / SYNTHEA_RECORD).read_text(encoding="utf-8"))
    entries = [{"resource": entry["resource"]} for entry in record["entry"]]
    body = _sign_body()
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    body["prefetch"]["conditions"] = bundle
    while len(raw := json.dumps(body)) < megabytes * 1_000_000:
        bundle["entry"] += entries[:200]
    return raw


def test_a_burst_of_large_calls_leaves_small_calls_their_threads(service):
    large = _large_body(3)
    post_hook(service.base_url, SIGN, large)  # warm both the parser and a worker

    def call_large(_: int) -> requests.Response:
        return post_hook(service.base_url, SIGN, large)

    small: list[float] = []
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = pool.map(call_large, range(12))
        for _ in range(8):
            started = time.monotonic()
            assert post_hook(service.base_url, SIGN, _sign_body()).status_code == 200
            small.append(time.monotonic() - started)
        answers = list(answers)
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 503} and 200 in statuses
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] and answer.json()["issue"][0]["code"] == "transient"
    assert max(small) < 1.5 + 1.0  # the deadline and a margin: small calls never queue behind the large ones


@pytest.mark.parametrize(("policy", "status"), [("closed", 503), ("open", 200)])
def test_a_replay_store_outage_follows_the_configured_policy(tmp_path, monkeypatch, policy, status):
    key = ec.generate_private_key(ec.SECP384R1())
    app = create_app(
        {
            "auth": "required",
            "trusted_issuers": json.dumps({ISSUER_A: {"jwks": {"keys": [_public(key, "a1")]}}}),
            "public_base_urls": ("http://localhost",),
            "replay_outage": policy,
            "database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        }
    )

    def down(*_: Any) -> bool:
        raise OperationalError("INSERT INTO jwt_seen", {}, Exception("database is down"))

    monkeypatch.setattr(app.extensions["cpt64640"].store, "seen", down)
    token = _token(key, "a1", ISSUER_A, f"http://localhost/cds-services/{SIGN}")
    response = app.test_client().post(f"/cds-services/{SIGN}", json=_sign_body(), headers=_bearer(token))
    assert response.status_code == status
    if status == 503:
        assert response.headers["Retry-After"] and response.get_json()["issue"][0]["code"] == "transient"
