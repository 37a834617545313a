"""Small calls take turns computing in a worker (web.routes._turn), large calls keep their own turn, and a call's
body and models are freed once its answer has been sent."""

from __future__ import annotations

import copy
import json
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cpt64640_cds import pipeline
from cpt64640_cds.web.environment import EXTENSION, LARGE_BODY_BYTES

from ..conftest import FIXTURES, SIGN, fixture_request

BODY = fixture_request("order-sign-lfcn-left-prefetched")
DEADLINE_S = 1.5  # tests/e2e/conftest.py's app
SYNTHEA_RECORD = "Evelyn_McCullough_b3e8d121-f742-438c-92e3-02135e4543d5.json"


def _large() -> str:
    """The same order with a Synthea patient's history repeated past the large-call size."""
    record = json.loads((FIXTURES / "external" / "smart-sandbox" / SYNTHEA_RECORD).read_text("utf-8"))
    body = copy.deepcopy(BODY)
    entries = [{"resource": e["resource"]} for e in record["entry"] if e["resource"]["resourceType"] == "Condition"]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    body["prefetch"]["conditions"] = bundle
    while len(raw := json.dumps(body)) <= LARGE_BODY_BYTES:
        bundle["entry"] += entries
    return raw


def test_a_small_call_waits_for_the_turn_and_past_its_deadline_is_told_to_retry(app, client):
    computing = app.extensions[EXTENSION].computing
    computing.acquire()  # another call is computing
    try:
        started = time.monotonic()
        busy = client.post(f"/cds-services/{SIGN}", json=BODY)
        waited = time.monotonic() - started
    finally:
        computing.release()
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1" and busy.get_json()["issue"][0]["code"] == "transient"
    assert DEADLINE_S - 0.1 <= waited < DEADLINE_S + 1.0
    answer = client.post(f"/cds-services/{SIGN}", json=BODY)
    assert answer.status_code == 200 and answer.get_json()["cards"]
    assert "turn;dur=" in answer.headers["Server-Timing"]


def test_a_large_call_does_not_wait_for_the_small_calls_turn(app, client):
    computing = app.extensions[EXTENSION].computing
    computing.acquire()
    try:
        answer = client.post(f"/cds-services/{SIGN}", data=_large(), content_type="application/json")
    finally:
        computing.release()
    assert answer.status_code == 200 and answer.get_json()["cards"]


def test_small_calls_compute_one_at_a_time(app, monkeypatch):
    inside, most = 0, 0
    lock = threading.Lock()
    extract = pipeline.extract

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)  # lets another thread run: without turns, calls would overlap here
        try:
            return extract(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(pipeline, "extract", counted)

    def call(_: int) -> int:
        return app.test_client().post(f"/cds-services/{SIGN}", json=BODY).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(call, range(12)))
    assert statuses == [200] * 12
    assert most == 1


def test_a_calls_models_are_freed_once_its_answer_is_closed(app, client, monkeypatch):
    records: list[weakref.ref[Any]] = []
    build = pipeline.build

    def kept(*args: Any, **kwargs: Any) -> Any:
        record = build(*args, **kwargs)
        records.append(weakref.ref(record))
        return record

    monkeypatch.setattr(pipeline, "build", kept)
    answer = client.post(f"/cds-services/{SIGN}", json=BODY, buffered=False)
    assert answer.status_code == 200
    assert records[0]() is not None  # still held while the answer is being sent
    answer.close()
    assert records[0]() is None


@pytest.mark.parametrize("path", ["/healthz", "/cds-services"])
def test_other_routes_take_no_turn(app, client, path):
    computing = app.extensions[EXTENSION].computing
    computing.acquire()
    try:
        assert client.get(path).status_code == 200
    finally:
        computing.release()
