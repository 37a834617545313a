"""A call's body and models are freed once its answer has been sent (web.routes._answer), not before."""

from __future__ import annotations

import weakref
from typing import Any

from cpt64640_cds import pipeline

from ..conftest import SIGN, fixture_request


def test_a_calls_models_are_freed_once_its_answer_is_closed(client, monkeypatch):
    records: list[weakref.ref[Any]] = []
    build = pipeline.build

    def kept(*args: Any, **kwargs: Any) -> Any:
        record = build(*args, **kwargs)
        records.append(weakref.ref(record))
        return record

    monkeypatch.setattr(pipeline, "build", kept)
    body = fixture_request("order-sign-lfcn-left-prefetched")
    answer = client.post(f"/cds-services/{SIGN}", json=body, buffered=False)
    assert answer.status_code == 200 and answer.get_json()["cards"]
    assert records[0]() is not None  # still held while the answer is being sent
    answer.close()
    assert records[0]() is None
