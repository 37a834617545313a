"""protocol.prefetch fetching against real servers on loopback: how a failed or compressed answer is read, and
the order in which a call's keys are sent."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cpt64640_cds.config import Settings
from cpt64640_cds.protocol.prefetch import completion
from cpt64640_cds.protocol.prefetch.allowlist import FhirAllowlist
from cpt64640_cds.protocol.prefetch.client import FetchError, FhirClient
from cpt64640_cds.protocol.prefetch.completion import complete
from cpt64640_cds.protocol.prefetch.deadline import Deadline
from cpt64640_cds.protocol.services.order_sign import SERVICE

from ...hostile_servers import HostileServer

LOOPBACK = FhirAllowlist((), loopback=True)
CONTEXT = {"patientId": "p1", "userId": "Practitioner/u1", "draftOrders": {"resourceType": "Bundle", "entry": []}}
NOTE = "x" * 200_000  # compresses to a few hundred bytes


class _Gzipping(BaseHTTPRequestHandler):
    """Answers a Bundle of one Condition with a long note, gzip-compressed when the client accepts it."""

    compressed: list[bool] = []  # per answer, whether it was compressed

    def do_GET(self) -> None:
        condition = {"resourceType": "Condition", "id": "c1", "note": [{"text": NOTE}]}
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]}).encode()
        compressed = "gzip" in self.headers.get("Accept-Encoding", "")
        self.compressed.append(compressed)
        if compressed:
            body = gzip.compress(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        if compressed:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def fresh_worker() -> Iterator[None]:
    """A worker that has fetched nothing yet (other tests' calls taught this process their keys' times)."""
    completion._last_ms.clear()
    yield
    completion._last_ms.clear()


@pytest.fixture
def gzipping() -> Iterator[str]:
    _Gzipping.compressed = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gzipping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_compressed_answer_is_read_decoded(gzipping):
    client = FhirClient(gzipping, None, Settings(), Deadline.after_ms(5000))
    try:
        status, bundle = client.get(gzipping + "/Condition?patient=p1")
    finally:
        client.close()
    assert _Gzipping.compressed == [True]
    assert status == 200 and bundle is not None
    assert bundle["entry"][0]["resource"]["note"][0]["text"] == NOTE


def test_the_byte_budget_counts_decoded_bytes(gzipping):
    client = FhirClient(gzipping, None, Settings(fhir_max_call_bytes=100_000), Deadline.after_ms(5000))
    try:
        with pytest.raises(FetchError, match="response budget of 100000 bytes") as failed:
            client.get(gzipping + "/Condition?patient=p1")  # a few hundred bytes on the wire, 200 kB decoded
    finally:
        client.close()
    assert failed.value.issue_code == "too-costly"
    assert _Gzipping.compressed == [True]


def test_a_server_that_never_answers_times_out_at_the_read_timeout():
    with HostileServer("hang") as server:
        client = FhirClient(server.base_url, None, Settings(fhir_read_timeout_ms=200), Deadline.after_ms(5000))
        try:
            with pytest.raises(FetchError, match=r"^timed out$") as failed:
                client.get(server.base_url + "/Patient/p1")
        finally:
            client.close()
        assert failed.value.issue_code == "timeout"
        assert server.wait_closed(2.0) == 0


def test_a_refused_connection_fails_the_key():
    with HostileServer("hang") as server:
        base = server.base_url
    client = FhirClient(base, None, Settings(), Deadline.after_ms(5000))  # nothing listens there any more
    try:
        with pytest.raises(FetchError, match=r"^connection failed$"):
            client.get(base + "/Patient/p1")
    finally:
        client.close()


def test_the_keys_are_sent_slowest_first_from_the_second_call_on(fresh_worker):
    def answer(path: str) -> bytes:
        if path.startswith("/Condition"):
            time.sleep(0.2)
        if path.startswith("/Patient"):
            return b'{"resourceType": "Patient", "id": "p1"}'
        return b'{"resourceType": "Bundle", "type": "searchset"}'

    with HostileServer("answer", answer=answer) as server:
        body = {"context": CONTEXT, "fhirServer": server.base_url}
        settings = Settings(fhir_fetch_threads=1)  # one thread: the requests reach the server in submission order
        first = complete(SERVICE, body, settings, Deadline.after_ms(10_000), LOOPBACK)
        declared_order = list(server.paths)
        server.paths.clear()
        second = complete(SERVICE, body, settings, Deadline.after_ms(10_000), LOOPBACK)
    assert not declared_order[0].startswith("/Condition")
    assert server.paths[0].startswith("/Condition")  # the slowest key of the first call leads the second
    assert sorted(server.paths) == sorted(declared_order)
    assert list(second.keys) == list(first.keys)  # the results keep the declared order: what the record reads
    assert {k: r.source for k, r in second.keys.items()} == {k: r.source for k, r in first.keys.items()}


def test_a_key_that_timed_out_is_sent_first_the_next_time(fresh_worker):
    def answer(path: str) -> bytes:
        if path.startswith("/DocumentReference"):
            time.sleep(0.6)  # past the read timeout (an optional key: the call still answers)
        if path.startswith("/Patient"):
            return b'{"resourceType": "Patient", "id": "p1"}'
        return b'{"resourceType": "Bundle", "type": "searchset"}'

    with HostileServer("answer", answer=answer) as server:
        body = {"context": CONTEXT, "fhirServer": server.base_url}
        settings = Settings(fhir_fetch_threads=1, fhir_read_timeout_ms=200)
        first = complete(SERVICE, body, settings, Deadline.after_ms(10_000), LOOPBACK)
        assert first.keys["documentReferences"].problem == "timed out"
        first_sent = server.paths[0]
        server.paths.clear()
        complete(SERVICE, body, settings, Deadline.after_ms(10_000), LOOPBACK)
    assert first_sent.startswith("/Patient")  # nothing known yet: the declared order
    assert server.paths[0].startswith("/DocumentReference")


@pytest.mark.parametrize(
    "answer",
    [
        b'{"resourceType": "Observation", "valueInteger": 12345678901234567890123, "note": [{"text": "caf\\u00e9"}]}',
        b'{"resourceType": "Observation", "valueQuantity": {"value": 1e400}, "id": "o\\ud800"}',  # inf, lone half
        b'{"resourceType": "Observation", "valueQuantity": {"value": 0.1}, "id": "a", "id": "b"}',
    ],
)
def test_an_answer_is_decoded_as_the_standard_library_decodes_it(answer):
    with HostileServer("answer", answer=lambda _: answer) as server:
        client = FhirClient(server.base_url, None, Settings(), Deadline.after_ms(5000))
        try:
            status, decoded = client.get(server.base_url + "/Observation/o1")
        finally:
            client.close()
    assert status == 200
    assert decoded == json.loads(answer)
    assert [type(v) for v in decoded.values()] == [type(v) for v in json.loads(answer).values()]
