"""protocol.prefetch outbound calls against real hostile servers on loopback (tests/hostile_servers.py):
sockets cut at the deadline whatever the server drips, the shared fetch pool, the call's byte budget."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

import pytest
import requests

from cpt64640_cds.config import Settings
from cpt64640_cds.errors import ApiError
from cpt64640_cds.protocol.prefetch.allowlist import FhirAllowlist
from cpt64640_cds.protocol.prefetch.client import FetchError, FhirClient
from cpt64640_cds.protocol.prefetch.completion import complete
from cpt64640_cds.protocol.prefetch.deadline import Deadline
from cpt64640_cds.protocol.prefetch.outbound import BoundedSession
from cpt64640_cds.protocol.services.order_sign import SERVICE

from ...hostile_servers import MODES, HostileServer, fds_of, settles

MARGIN = 1.0  # seconds past a deadline that an answer may take on a busy machine (the faults hold for 30 s)
LOOPBACK = FhirAllowlist((), loopback=True)
CONTEXT = {"patientId": "p1", "userId": "Practitioner/u1", "draftOrders": {"resourceType": "Bundle", "entry": []}}


@pytest.fixture(autouse=True)
def _watchdog_running():
    BoundedSession(time.monotonic()).close()  # the per-process watchdog thread exists before any baseline


def _threads() -> int:
    return threading.active_count()


@pytest.mark.parametrize("mode", MODES)
def test_a_bounded_get_ends_at_its_deadline_whatever_the_server_does(mode):
    with HostileServer(mode) as server:
        threads, fds = _threads(), fds_of(os.getpid())
        session = BoundedSession(until=time.monotonic() + 0.6)
        started = time.monotonic()
        # Cut headers can end like complete ones (http.client reads up to EOF): `cut` says the answer is void.
        with contextlib.suppress(requests.RequestException), session.get(server.base_url, {}, (2.0, 2.0)) as answer:
            for _ in answer.iter_content(64 * 1024):
                pass
        elapsed = time.monotonic() - started
        session.close()
        assert session.cut
        assert elapsed < 0.6 + MARGIN  # the read timeout (2 s) never came into it
        assert server.wait_closed(2.0) == 0  # the server saw the connection closed
        assert settles(1.0, lambda: _threads() <= threads and fds_of(os.getpid()) <= fds)


def test_a_session_closed_before_its_deadline_is_not_cut():
    with HostileServer("answer", answer=lambda _: b'{"resourceType": "Patient"}') as server:
        session = BoundedSession(until=time.monotonic() + 0.3)
        with session.get(server.base_url + "/Patient/p1", {}, (2.0, 2.0)) as response:
            assert response.json() == {"resourceType": "Patient"}
        session.close()
        time.sleep(0.4)
        assert not session.cut
        assert server.wait_closed(2.0) == 0


def _bundle(size: int) -> bytes:
    condition = {"resourceType": "Condition", "id": "c1", "note": [{"text": "x" * size}]}
    return json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]}).encode()


def test_one_byte_budget_for_every_response_of_a_call():
    with HostileServer("answer", answer=lambda _: _bundle(300_000)) as server:
        client = FhirClient(server.base_url, None, Settings(fhir_max_call_bytes=500_000), Deadline.after_ms(5000))
        try:
            assert client.get(server.base_url + "/Condition?patient=p1")[0] == 200
            with pytest.raises(FetchError, match="response budget of 500000 bytes for this call exceeded") as failed:
                client.get(server.base_url + "/Procedure?patient=p1")
            assert failed.value.issue_code == "too-costly"
        finally:
            client.close()
        assert len(server.paths) == 2


def test_a_declared_length_over_the_budget_is_not_read():
    with HostileServer("answer", answer=lambda _: _bundle(300_000)) as server:
        client = FhirClient(server.base_url, None, Settings(fhir_max_call_bytes=100_000), Deadline.after_ms(5000))
        try:
            with pytest.raises(FetchError, match="response budget of 100000 bytes"):
                client.get(server.base_url + "/Condition?patient=p1")
        finally:
            client.close()


def test_a_url_outside_the_base_is_never_requested():
    with HostileServer("answer", answer=lambda _: b'{"resourceType": "Patient"}') as server:
        client = FhirClient(server.base_url + "/fhir", None, Settings(), Deadline.after_ms(5000))
        try:
            for url in ("/fhir/Patient/..", "/fhir/%2e%2e/Patient/p1", "/Patient/p1", "/fhir/Patient/p1;x"):
                with pytest.raises(FetchError, match="outside fhirServer") as refused:
                    client.get(server.base_url + url)
                assert refused.value.issue_code == "forbidden"
        finally:
            client.close()
        assert server.paths == []


@pytest.mark.parametrize("mode", MODES)
def test_completion_answers_at_the_deadline_and_leaves_nothing_running(mode):
    settings = Settings(fhir_fetch_threads=3)  # ten keys, three threads: most jobs never start
    body = {"context": CONTEXT, "fhirServer": "", "fhirAuthorization": {"access_token": "t"}}
    with HostileServer(mode) as server:
        body["fhirServer"] = server.base_url
        complete_once = lambda: complete(SERVICE, body, settings, Deadline.after_ms(600), LOOPBACK)  # noqa: E731
        with pytest.raises(ApiError):
            complete_once()  # the shared pool's threads exist from here on
        assert server.wait_closed(2.0) == 0
        threads, fds = _threads(), fds_of(os.getpid())
        started = time.monotonic()
        with pytest.raises(ApiError) as failed:
            complete_once()
        assert time.monotonic() - started < 0.6 + MARGIN
        assert failed.value.status == 412
        assert {issue.code for issue in failed.value.issues} == {"timeout"}
        assert server.wait_closed(2.0) == 0
        assert len(server.paths) == 2 * 3  # three jobs started per call, the others were cancelled in the queue
        assert settles(1.0, lambda: _threads() <= threads and fds_of(os.getpid()) <= fds)
    prefetch_threads = [t for t in threading.enumerate() if t.name.startswith("prefetch")]
    assert len(prefetch_threads) <= 3 + 16  # this test's pool and, at most, the default one of other tests


def test_a_next_link_that_leaves_the_prefix_is_not_followed():
    first = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}}],
        "link": [{"relation": "next", "url": ""}],
    }
    with HostileServer("answer", answer=lambda _: b'{"resourceType": "Bundle", "type": "searchset"}') as server:
        for escape in ("/fhir/../admin?page=2", "/fhir/%2e%2e/admin?page=2", "/fhir/x;/../../admin?p=2", "/admin"):
            first["link"][0]["url"] = server.base_url + escape
            body = {"context": CONTEXT, "fhirServer": server.base_url + "/fhir", "prefetch": {"conditions": first}}
            body["prefetch"] |= dict.fromkeys(k for k in SERVICE.prefetch if k != "conditions")
            result = complete(SERVICE, body, Settings(), Deadline.after_ms(2000), LOOPBACK)
            assert result.keys["conditions"].problem == "next link points outside fhirServer; not followed"
        first["link"][0]["url"] = server.base_url + "/fhir/Condition?page=2"
        result = complete(SERVICE, body, Settings(), Deadline.after_ms(2000), LOOPBACK)
        assert result.keys["conditions"].pages == 2
        assert server.paths == ["/fhir/Condition?page=2"]  # only the link inside the prefix was requested
