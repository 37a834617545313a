"""The warm-up rehearsal: every service rehearses through the whole pipeline, without starting a thread (the
master forks after it) and without failing the process when it breaks."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cpt64640_cds import pipeline
from cpt64640_cds.coding.lines import ModifierPolicy
from cpt64640_cds.config import Settings
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.protocol.prefetch.allowlist import FhirAllowlist
from cpt64640_cds.protocol.prefetch.deadline import Deadline
from cpt64640_cds.protocol.services import all_services
from cpt64640_cds.server import warmup

SETTINGS = Settings(auth="off")


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(record.getMessage())


@pytest.fixture
def logger() -> tuple[logging.Logger, Collected]:
    collected = Collected()
    log = logging.getLogger("test-warmup")
    log.handlers[:] = [collected]
    log.propagate = False
    return log, collected


def _rehearse(log: logging.Logger, settings: Settings = SETTINGS) -> bool:
    kb = load()
    return warmup.rehearse(
        all_services(),
        kb=kb,
        policy=ModifierPolicy.of(kb, settings.distinct_modifier, settings.bilateral_modifier_50),
        settings=settings,
        allowlist=FhirAllowlist.from_settings(settings),
        logger=log,
    )


@pytest.mark.parametrize("service", all_services().values(), ids=lambda s: s.id)
def test_each_service_rehearses_every_stage_down_to_a_card(service):
    body = json.loads((warmup.REHEARSALS / f"{service.id}.json").read_text())
    assert "fhirServer" not in body  # nothing to fetch: no network, no fetch threads
    assert set(body["prefetch"]) == set(service.prefetch)
    kb = load()
    result = pipeline.run(
        service,
        body,
        kb=kb,
        policy=ModifierPolicy.of(kb, SETTINGS.distinct_modifier, SETTINGS.bilateral_modifier_50),
        settings=SETTINGS,
        deadline=Deadline.after_ms(warmup.REHEARSAL_DEADLINE_MS),
        today=warmup.REHEARSAL_DAY,
        logger=logging.getLogger("test-warmup"),
        allowlist=FhirAllowlist.from_settings(SETTINGS),
    )
    assert result.cards  # card rendering and the outgoing contract check ran too
    assert list(result.timings) == list(pipeline.STAGES)
    assert all(entries <= warmup.REHEARSAL_MAX_ENTRIES for entries in _entries_per_key(body))


def _entries_per_key(body: dict) -> list[int]:
    return [len(v.get("entry", [])) for v in body["prefetch"].values() if v and v["resourceType"] == "Bundle"]


def test_a_rehearsal_starts_no_thread_so_the_master_may_fork_after_it(logger):
    log, collected = logger
    before = set(threading.enumerate())
    assert _rehearse(log)
    assert set(threading.enumerate()) == before
    assert collected.events == []


def test_an_operators_low_prefetch_limit_does_not_keep_the_workers_cold(logger):
    log, collected = logger
    assert _rehearse(log, Settings(auth="off", max_prefetch_resources=1))
    assert collected.events == []


def test_a_broken_rehearsal_is_logged_not_raised(logger, tmp_path, monkeypatch):
    log, collected = logger
    monkeypatch.setattr(warmup, "REHEARSALS", tmp_path)  # no rehearsal requests at all
    assert not _rehearse(log)
    assert collected.events == ["warm-up-failed"]


def test_every_service_has_its_rehearsal_and_nothing_else_is_rehearsed():
    assert {p.stem for p in warmup.REHEARSALS.glob("*.json")} == set(all_services())


def test_a_warm_worker_has_its_collector_settled():
    # In a process of its own: the thresholds and the frozen generation are the whole process's.
    code = (
        "import gc\n"
        "from cpt64640_cds.web.app import create_app\n"
        "from cpt64640_cds.server.warmup import GC_THRESHOLDS, warm\n"
        "app = create_app({'database_url': 'sqlite://', 'log_level': 'WARNING', 'auth': 'off'})\n"
        "assert gc.get_threshold() != GC_THRESHOLDS and gc.get_freeze_count() == 0\n"
        "assert warm(app)\n"
        "assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
    )
    service = str(Path(pipeline.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": service}, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
