"""Scale-out as docs/deployment.md describes it, on this machine: two instances (separate `cpt64640 serve`
masters, as two hosts would run them, each with two workers) behind the project's nginx configuration
(deploy/nginx/nginx.conf) on loopback, sharing one PostgreSQL whose schema the owner role migrated with
`cpt64640 db upgrade` and which the instances use through a role without DDL rights.

A bounded load of hook calls and feedback goes through the proxy while one instance is killed (SIGKILL: a
crash, calls in flight lost) and restarted, then the other is stopped gracefully and restarted (a rolling
update). Asserted: every call answered 200 at the proxy, none 5xx or 401: a call in flight on the crashed instance
is passed on to the other with the same token and the proxy's id of the client request, which the shared replay
cache takes for that request tried again (docs/security.md). The one exception is a call whose answer the crashed
instance had begun to send: the proxy cannot finish it nor send it elsewhere, and cuts the connection (seen
once in CI; the client has no acknowledgement and tries again). Every feedback item acknowledged with a 200 is in the
database exactly once. A token already used on one instance is refused by the other, directly and through the
proxy (a new client request: a new id), and so is one sent straight to an instance with a proxy's header.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

from cpt64640_cds.tools.hook_requests import with_prefetch
from cpt64640_cds.tools.processes import Process, free_port, start_service

from ..conftest import ROOT, SIGN, fixture_request
from ..deploy_proxy import running_proxy
from ..postgres import as_postgres
from .conftest import prefetch_from

ISSUER = "https://ehr.example.org"
KID = "scale-out-key"
CLIENTS = 6  # threads of load, each with one call in flight at a time
PHASE = 2.0  # seconds of load between the steps of the scenario
# A rolling update waits this long after an instance is ready before stopping the next: longer than the proxy's
# fail_timeout (2 s, deploy/nginx/nginx.conf), so that nginx has tried the restarted instance again.
ROLLING_PAUSE = 3.0


@dataclass
class Deployment:
    proxy: str
    instances: dict[str, Process]
    ports: dict[str, int]
    folders: dict[str, Path]
    environment: dict[str, str]
    owner_url: str
    key: ec.EllipticCurvePrivateKey

    def start(self, name: str) -> None:
        self.instances[name] = start_service(self.folders[name], self.ports[name], **self.environment)
        wait_ready(self.instances[name].base_url)

    def token(self, path: str) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": f"{self.proxy}{path}", "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def wait_ready(base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base_url} never became ready")


def _psql(port: int, sql: str, database: str = "postgres") -> None:
    as_postgres(f'psql -h 127.0.0.1 -p {port} -U postgres -d {database} -v ON_ERROR_STOP=1 -qc "{sql}"')


@pytest.fixture(scope="module")
def deployment(postgres, tmp_path_factory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("scale-out")
    _psql(postgres.port, "CREATE ROLE cds_owner LOGIN")
    _psql(postgres.port, "CREATE ROLE cds_service LOGIN")
    _psql(postgres.port, "CREATE DATABASE cds OWNER cds_owner")
    owner_url = f"postgresql://cds_owner@127.0.0.1:{postgres.port}/cds"
    migrated = subprocess.run(
        [sys.executable, "-m", "cpt64640_cds", "db", "upgrade", "--database-url", owner_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    # What the service's role may do: read and write rows, nothing else (docs/deployment.md).
    for grant in (
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cds_service",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO cds_service",
    ):
        as_postgres(f'psql -h 127.0.0.1 -p {postgres.port} -U cds_owner -d cds -v ON_ERROR_STOP=1 -qc "{grant}"')

    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    issuers = {ISSUER: {"jwks": {"keys": [{**public, "kid": KID, "use": "sig", "alg": "ES384"}]}}}
    (folder / "issuers.json").write_text(json.dumps(issuers))
    ports = {"a": free_port(), "b": free_port()}
    proxy_port = free_port()
    proxy = f"http://127.0.0.1:{proxy_port}"
    environment = {
        "CDS_FRONT": "none",  # the shared proxy buffers for both
        "CDS_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "DATABASE_URL": f"postgresql://cds_service@127.0.0.1:{postgres.port}/cds",
        "CDS_AUTH": "required",
        "CDS_TRUSTED_ISSUERS": str(folder / "issuers.json"),
        # Clients call the proxy; the instances' own addresses are there for the direct replay check only.
        "CDS_PUBLIC_BASE_URL": ",".join([proxy, *(f"http://127.0.0.1:{port}" for port in ports.values())]),
    }
    names = {name: folder / name for name in ports}
    for path in names.values():
        path.mkdir()
    upstreams = [f"127.0.0.1:{port}" for port in ports.values()]
    with running_proxy(ROOT / "deploy" / "nginx" / "nginx.conf", upstreams, f"127.0.0.1:{proxy_port}", folder):
        deployment = Deployment(proxy, {}, ports, names, environment, owner_url, key)
        try:
            for name in ports:
                deployment.start(name)
            yield deployment
        finally:
            for instance in deployment.instances.values():
                instance.stop()


@dataclass
class Load:
    """What the clients saw: status per call, and the feedback items each acknowledged call carried."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    acknowledged: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, cards: tuple[str, ...] = ()) -> None:
        with self.lock:
            self.statuses[kind, status] += 1
            self.sent.extend(cards)
            if status == 200:
                self.acknowledged.extend(cards)


def _hook_body() -> dict[str, Any]:
    request = fixture_request("order-sign-lfcn-left")
    return with_prefetch(request, prefetch_from(None, request))


CUT = 0  # no status: the connection broke before the whole answer arrived


def _post(session: requests.Session, url: str, body: dict[str, Any], token: str) -> int:
    """The status through the proxy, or CUT: an instance that crashes between sending its answer's header and
    its body leaves the proxy with half an answer it can neither finish nor pass on to the other instance."""
    try:
        return session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return CUT


def _client(deployment: Deployment, load: Load, stop: threading.Event) -> None:
    body = _hook_body()
    session = requests.Session()
    hook_path = f"/cds-services/{SIGN}"
    while not stop.is_set():
        hook = {**body, "hookInstance": str(uuid.uuid4())}
        load.record("hook", _post(session, f"{deployment.proxy}{hook_path}", hook, deployment.token(hook_path)))
        cards = [f"scale-{uuid.uuid4()}" for _ in range(3)]
        items = [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:00:00Z"} for card in cards]
        path = f"{hook_path}/feedback"
        status = _post(session, f"{deployment.proxy}{path}", {"feedback": items}, deployment.token(path))
        load.record("feedback", status, tuple(cards))


def test_a_crash_and_a_rolling_restart_under_load_cost_no_failed_call_and_no_feedback(deployment):
    load, stop = Load(), threading.Event()
    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(_client, deployment, load, stop) for _ in range(CLIENTS)]
        time.sleep(PHASE)
        deployment.instances["a"].kill()  # a crash: SIGKILL to serve and its workers
        time.sleep(PHASE)
        deployment.start("a")
        time.sleep(ROLLING_PAUSE)
        deployment.instances["b"].stop()  # a rolling update: SIGTERM, calls in flight finish
        deployment.start("b")
        time.sleep(PHASE)
        stop.set()
        for client in clients:
            client.result()

    served = {kind: sum(n for (k, _), n in load.statuses.items() if k == kind) for kind in ("hook", "feedback")}
    assert served["hook"] > 50 and served["feedback"] > 50, load.statuses
    # No 5xx and no 401 across the crash and the restarts; only a call whose answer was half sent when its
    # instance crashed may be cut (at most one per client), and then the client never had an acknowledgement.
    assert {status for _, status in load.statuses} <= {200, CUT}, load.statuses
    assert sum(n for (_, status), n in load.statuses.items() if status == CUT) <= CLIENTS, load.statuses

    engine = create_engine(deployment.owner_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = Counter(
            card for (card,) in conn.execute(text("SELECT card_uuid FROM feedback WHERE card_uuid LIKE 'scale-%'"))
        )
    engine.dispose()
    assert all(rows[card] == 1 for card in load.acknowledged), "acknowledged feedback lost or duplicated"
    assert set(rows) <= set(load.sent)
    assert max(rows.values()) == 1


def test_a_token_used_on_one_instance_is_refused_by_the_other(deployment):
    path = f"/cds-services/{SIGN}"
    token = deployment.token(path)
    body = {**_hook_body(), "hookInstance": str(uuid.uuid4())}
    headers = {"Authorization": f"Bearer {token}"}
    first, second = (deployment.instances[name].base_url for name in ("a", "b"))
    assert requests.post(f"{first}{path}", json=body, headers=headers, timeout=30).status_code == 200
    assert requests.post(f"{second}{path}", json=body, headers=headers, timeout=30).status_code == 401
    assert requests.post(f"{deployment.proxy}{path}", json=body, headers=headers, timeout=30).status_code == 401


def _post_from(source: str, base_url: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """POST from a chosen loopback address: 127.0.0.1 is the proxies' address (CDS_FORWARDED_ALLOW_IPS), another
    is not."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        connection.request("POST", path, json.dumps(body), {**headers, "Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_proxy_request_id_is_believed_from_the_proxys_address_only(deployment):
    path = f"/cds-services/{SIGN}"
    body = {**_hook_body(), "hookInstance": str(uuid.uuid4())}
    headers = {"Authorization": f"Bearer {deployment.token(path)}", "X-Proxy-Request-Id": uuid.uuid4().hex}
    first, second = (deployment.instances[name].base_url for name in ("a", "b"))
    assert _post_from("127.0.0.1", first, path, body, headers) == 200  # a proxy's first try
    assert _post_from("127.0.0.2", second, path, body, headers) == 401  # the same id from elsewhere: a replay
    assert _post_from("127.0.0.1", second, path, body, headers) == 200  # the proxy trying the request again
    other = {**headers, "X-Proxy-Request-Id": uuid.uuid4().hex}
    assert _post_from("127.0.0.1", second, path, body, other) == 401  # another request with that token
