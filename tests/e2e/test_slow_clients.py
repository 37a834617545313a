"""`cpt64640 serve` against hostile clients, run the way it was found: the real service on loopback, sockets
that send one byte a second, requests gunicorn or nginx cannot parse, forwarded headers from a client.

With the nginx front (the default when nginx is installed) 64 slow connections leave normal hook calls
answered within the deadline; without it the same attack holds every gunicorn thread. Errors the HTTP servers
produce themselves are OperationOutcomes with the app's CORS headers, both ways. Nothing of a serve outlives
it, whichever way it stops."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from cpt64640_cds.tools.processes import Process, process_group, start_service
from cpt64640_cds.tools.slow_clients import SlowClients

from ..conftest import SIGN, fixture_request
from .conftest import post_hook

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-deps installs it)")

DEADLINE_S = 1.5  # CDS_REQUEST_DEADLINE_MS of start_service
MARGIN_S = 2.5  # for a loaded 2-vCPU machine; the calls take ~0.1 s when it is idle
SLOW = 64
SLOW_BODIES = 16  # of them: a whole header announcing a large body, then the body one byte a second


@pytest.fixture(scope="module")
def fronted(tmp_path_factory) -> Iterator[Process]:
    if NGINX is None:
        pytest.skip("nginx is not installed (scripts/system-deps installs it)")
    server = start_service(tmp_path_factory.mktemp("fronted"), CDS_FRONT="nginx")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def direct(tmp_path_factory) -> Iterator[Process]:
    server = start_service(tmp_path_factory.mktemp("direct"), CDS_FRONT="none")
    yield server
    server.stop()


def _attack(server: Process) -> SlowClients:
    body = json.dumps(fixture_request("order-sign-lfcn-left-prefetched")).encode()
    return SlowClients(server.base_url, f"/cds-services/{SIGN}", body, SLOW, SLOW_BODIES)


def _timed(call: Any) -> tuple[float, Any]:
    start = time.monotonic()
    result = call()
    return time.monotonic() - start, result


def _open_files(pids: list[int]) -> int:
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)


@needs_nginx
def test_slow_clients_leave_normal_calls_answered_behind_the_front(fronted):
    body = fixture_request("order-sign-lfcn-left-prefetched")
    bound = DEADLINE_S + MARGIN_S
    nginx = list(process_group(_front(fronted)[0]))
    baseline = _open_files(nginx)
    with _attack(fronted) as attack:
        assert _open_files(nginx) >= baseline + SLOW  # nginx holds them, gunicorn never sees them
        for _ in range(20):
            took, response = _timed(lambda: post_hook(fronted.base_url, SIGN, body))
            assert response.status_code == 200
            assert response.json()["cards"]
            assert took < bound
            took, health = _timed(lambda: requests.get(f"{fronted.base_url}/healthz", timeout=bound))
            assert health.status_code == 200
            assert took < bound
        assert attack.thread.is_alive()  # the attack ran throughout
    deadline = time.monotonic() + 10
    while _open_files(nginx) > baseline + 2 and time.monotonic() < deadline:  # + a kept-alive client
        time.sleep(0.2)
    assert _open_files(nginx) <= baseline + 2  # every socket of the attack closed
    assert not any("[emerg]" in line or "[alert]" in line for line in fronted.log_lines())


def test_without_the_front_slow_clients_hold_every_gunicorn_thread(direct):
    """The reason for the front: 2 workers x 4 threads are all taken by slow sockets, /healthz included.
    gunicorn lets the threads go when the sockets close."""
    with _attack(direct), pytest.raises(requests.Timeout):
        requests.get(f"{direct.base_url}/healthz", timeout=3)
    assert requests.get(f"{direct.base_url}/healthz", timeout=10).status_code == 200


def _exchange(base_url: str, data: bytes) -> http.client.HTTPResponse:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(data)
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.body = response.read()  # type: ignore[attr-defined]
    sock.close()
    return response


BROKEN = {
    "oversized header": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 65536 + b"\r\n\r\n", 431),
    "malformed request line": (b"GARBAGE-LINE /\x01 HTTP/9\r\nHost: x\r\n\r\n", 400),
    "bad Content-Length": (b"POST /cds-services/x HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}", 400),
    "two Content-Lengths": (
        b"POST /cds-services/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
}


@pytest.mark.parametrize("server", ["fronted", "direct"])
@pytest.mark.parametrize("case", BROKEN)
def test_requests_the_servers_reject_get_an_operation_outcome_with_cors(server, case, request):
    base_url = request.getfixturevalue(server).base_url
    data, status = BROKEN[case]
    app_cors = {k: v for k, v in requests.get(f"{base_url}/healthz", timeout=5).headers.items() if "Access" in k}
    response = _exchange(base_url, data)
    assert response.status == status
    assert response.getheader("Content-Type") == "application/fhir+json"
    outcome = json.loads(response.body)  # type: ignore[attr-defined]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert {k: v for k, v in response.getheaders() if "Access" in k} == app_cors  # the app's own CORS headers
    assert app_cors["Access-Control-Allow-Origin"] == "*"
    log = "\n".join(request.getfixturevalue(server).log_lines())
    for quoted in ("GARBAGE", "12abc", "pppp"):
        assert quoted.encode() not in response.body  # type: ignore[attr-defined]
        assert quoted not in log
    if server == "direct":  # behind the front nginx answers these, and logs only its own alerts
        assert '"event": "invalid-request"' in log


SPOOFED = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Proto: http\r\nX-Forwarded-For: 10.9.8.7\r\n\r\n"  # noqa: E501


@pytest.mark.parametrize("server", ["fronted", "direct"])
def test_a_clients_forwarded_headers_are_not_believed(server, request):
    """gunicorn refuses contradictory X-Forwarded-Proto values from a proxy it trusts (400); from anyone else
    it ignores them, so a 200 shows the client's values never counted (behind the front, nginx replaced them)."""
    response = _exchange(request.getfixturevalue(server).base_url, SPOOFED)
    assert response.status == 200


def test_forwarded_headers_count_from_a_listed_proxy(tmp_path):
    """The control for the test above: the same request from a listed proxy address is read, and refused."""
    server = start_service(tmp_path, CDS_FRONT="none", CDS_FORWARDED_ALLOW_IPS="127.0.0.1")
    try:
        response = _exchange(server.base_url, SPOOFED)
        assert response.status == 400
        assert "X-Forwarded-Proto" in json.loads(response.body)["issue"][0]["diagnostics"]  # type: ignore[attr-defined]
        assert response.getheader("Access-Control-Allow-Origin") == "*"
    finally:
        server.stop()
    assert not any("10.9.8.7" in line or "GARBAGE" in line for line in server.log_lines())


def _front(server: Process) -> tuple[int, Path]:
    """nginx's master pid and the run folder, from gunicorn's "Listening at: unix:..." line."""
    [line] = [line for line in server.log_lines() if "Listening at: unix:" in line]
    run_dir = Path(line.split("unix:")[1].split()[0]).parent
    return int((run_dir / "nginx.pid").read_text()), run_dir


def _exit_status(server: Process, within: float) -> int:
    return server.process.wait(timeout=within)


@needs_nginx
def test_sigterm_to_serve_stops_nginx_and_gunicorn_and_removes_the_run_folder(tmp_path):
    server = start_service(tmp_path, CDS_FRONT="nginx")
    try:
        master, run_dir = _front(server)
        assert (run_dir / "gunicorn.sock").is_socket()
        booted = time.monotonic() + 30  # /healthz answers as soon as one worker has booted
        while len(server.group()) < 3 and time.monotonic() < booted:
            time.sleep(0.2)
        assert len(server.group()) == 3  # serve and 2 gunicorn workers
        assert len(process_group(master)) >= 2  # nginx's master and workers
        os.kill(server.process.pid, signal.SIGTERM)  # serve alone, as a service manager would
        assert _exit_status(server, within=30) == 0
        assert server.group() == {}
        assert process_group(master) == {}
        assert not run_dir.exists()
    finally:
        server.kill()


@needs_nginx
def test_when_nginx_dies_serve_stops_with_an_error(tmp_path):
    server = start_service(tmp_path, CDS_FRONT="nginx")
    try:
        master, run_dir = _front(server)
        os.kill(master, signal.SIGKILL)  # its workers live on, still listening, unless serve ends them
        assert _exit_status(server, within=30) == 1
        assert server.group() == {}
        assert process_group(master) == {}
        assert not run_dir.exists()
        assert any("the nginx front exited" in line for line in server.log_lines())
    finally:
        server.kill()
