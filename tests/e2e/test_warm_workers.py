"""Warm workers (server/warmup.py): each gunicorn worker rehearses a hook call before it takes a connection, and
says so on /readyz; the rehearsal leaves no trace a client could see (no card rows, no counted call, no hook
log line). Hook answers carry Server-Timing per pipeline stage, and /metrics the per-stage histograms."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import create_engine, func, select

from cpt64640_cds.pipeline import STAGES
from cpt64640_cds.protocol.services import all_services
from cpt64640_cds.server.warmup import warm
from cpt64640_cds.store.tables import issued_card
from cpt64640_cds.tools.processes import Process, start_service

from ..conftest import SIGN, fixture_request
from ..hostile_servers import booted_workers, settles
from .conftest import post_hook

TIMING = re.compile(r"([a-z]+);dur=(\d+\.\d+)")


def _events(server: Process, name: str) -> list[dict]:
    found = []
    for line in server.log_lines():
        if line.startswith("{") and json.loads(line)["event"] == name:
            found.append(json.loads(line))
    return found


def _card_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(issued_card)).scalar_one())
    finally:
        engine.dispose()


def _stages(header: str) -> list[str]:
    parts = [part.strip() for part in header.split(",")]
    assert all(TIMING.fullmatch(part) for part in parts), header
    return [TIMING.fullmatch(part).group(1) for part in parts]  # type: ignore[union-attr]


@dataclass
class Served:
    server: Process
    database_url: str
    warm_at_first_answer: int  # "warm" lines logged when a worker first answered
    before_any_call: tuple[int, str, int]  # card rows, /metrics, "hook" lines once both workers had warmed


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("warm")
    server = start_service(folder)  # returns once a worker answers /healthz
    warm_at_first_answer = len(_events(server, "warm"))  # a worker logs it before it accepts a connection
    database_url = f"sqlite:///{next(folder.glob('service-*.sqlite3'))}"
    settles(30, lambda: len(_events(server, "warm")) >= 2)
    metrics = requests.get(f"{server.base_url}/metrics", timeout=10).text
    yield Served(
        server,
        database_url,
        warm_at_first_answer,
        (_card_rows(database_url), metrics, len(_events(server, "hook"))),
    )
    server.stop()


def test_a_worker_answers_only_once_warm_and_every_worker_warms(served):
    server = served.server
    assert served.warm_at_first_answer >= 1
    workers = booted_workers(server.process.pid, 2)
    assert len(workers) == 2
    assert settles(30, lambda: len(_events(server, "warm")) >= 2)
    assert _events(server, "warm-up-failed") == []
    ready = requests.get(f"{server.base_url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "warm": True, "store": "reachable"}


def test_the_warm_up_leaves_no_card_rows_no_counted_call_and_no_hook_line(served):
    rows, metrics, hook_lines = served.before_any_call
    assert rows == 0
    # The series a call moves exist from the start (at zero), for every stage of every service.
    assert _counted(metrics, "cds_requests_total") == {f'service="{s}",status="200"': 0.0 for s in all_services()}
    assert set(_counted(metrics, "cds_stage_seconds_count").values()) == {0.0}
    assert len(_counted(metrics, "cds_stage_seconds_count")) == len(all_services()) * len(STAGES)
    assert hook_lines == 0
    # The same checks after one real call: it leaves all three.
    server = served.server
    assert post_hook(server.base_url, SIGN, fixture_request("order-sign-lfcn-left-prefetched")).status_code == 200
    assert settles(10, lambda: _card_rows(served.database_url) > 0)
    after = requests.get(f"{server.base_url}/metrics", timeout=10).text
    assert _counted(after, "cds_requests_total")[f'service="{SIGN}",status="200"'] == 1.0
    assert settles(5, lambda: len(_events(server, "hook")) > 0)


def _counted(exposition: str, name: str) -> dict[str, float]:
    """The samples of one metric: labels → value."""
    return {match[1]: float(match[2]) for match in re.finditer(rf"^{name}\{{(.*?)\}} (\S+)$", exposition, re.MULTILINE)}


def test_hook_answers_time_every_stage_and_metrics_keep_the_histograms(served):
    server = served.server
    answer = post_hook(server.base_url, SIGN, fixture_request("order-sign-lfcn-left-prefetched"))
    assert answer.status_code == 200
    assert _stages(answer.headers["Server-Timing"]) == list(STAGES)
    exposition = requests.get(f"{server.base_url}/metrics", timeout=10).text
    for stage in STAGES:
        assert re.search(rf'cds_stage_seconds_count\{{service="{SIGN}",stage="{stage}"\}} [1-9]', exposition), stage


def test_a_replacement_worker_warms_before_it_takes_traffic(served):
    server = served.server
    assert settles(30, lambda: len(_events(server, "warm")) >= 2)
    warmed = len(_events(server, "warm"))
    os.kill(booted_workers(server.process.pid, 2)[0], signal.SIGKILL)  # gunicorn starts another
    assert settles(30, lambda: len(_events(server, "warm")) == warmed + 1)
    assert requests.get(f"{server.base_url}/readyz", timeout=10).status_code == 200


# The same app under the Flask test client: nobody rehearsed, so it is not ready until `warm` runs.
def test_readyz_is_503_until_the_app_is_warm(app, client):
    cold = client.get("/readyz")
    assert cold.status_code == 503
    assert cold.get_json() == {"status": "not-ready", "warm": False, "store": "reachable"}
    assert warm(app)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_store_is_unreachable_and_healthz_stays_200(tmp_path):
    from cpt64640_cds.web.app import create_app

    unreachable = create_app({"database_url": f"sqlite:///{tmp_path}"})  # a folder: SQLite cannot open it
    assert warm(unreachable)
    client = unreachable.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "not-ready", "warm": True, "store": "unreachable"}
    assert client.get("/healthz").status_code == 200


def test_error_answers_carry_no_server_timing(client):
    answer = client.post(f"/cds-services/{SIGN}", json={"hook": "order-sign"})
    assert answer.status_code == 400
    assert "Server-Timing" not in answer.headers
