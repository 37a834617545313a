"""Storage on both backends (SQLite in WAL mode, PostgreSQL): feedback stored once, nothing lost under
concurrency or a crash, the shared JWT replay cache, and the feedback report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from cpt64640_cds.store.schema import upgrade
from cpt64640_cds.store.store import Store
from cpt64640_cds.store.tables import metadata
from cpt64640_cds.tools.processes import start_service

from ..conftest import ROOT, SIGN

POSTGRES_URL = os.environ.get(
    "CPT64640_TEST_POSTGRES_URL", "postgresql+psycopg://cpt64640:cpt64640@127.0.0.1:5432/cpt64640_test"
)


def _postgres_available() -> bool:
    try:
        with create_engine(POSTGRES_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except OperationalError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    if not _postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (scripts/system-deps starts it as root)")
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)  # a clean database for each test, brought to the schema the service needs
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    upgrade(POSTGRES_URL)
    return POSTGRES_URL


def _feedback(card: str, outcome: str = "overridden", **extra) -> dict:
    item = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-27T10:00:00Z", **extra}
    if outcome == "accepted":
        item.setdefault("acceptedSuggestions", [{"id": f"s-{card}"}])
    return item


def test_wal_mode_for_sqlite(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()


def test_feedback_is_stored_once(database_url):
    store = Store(database_url)
    items = [_feedback("c1"), _feedback("c2", "accepted"), _feedback("c1")]  # the third repeats the first
    assert store.store_feedback(SIGN, items) == 2
    assert store.store_feedback(SIGN, items) == 0
    assert len(store.feedback_rows()) == 2
    store.close()


def test_shared_jwt_replay_cache(database_url):
    store = Store(database_url)
    future = 4102444800.0  # 2100-01-01
    assert store.seen("jti-1", "https://ehr", future) is False
    assert store.seen("jti-1", "https://ehr", future) is True
    assert store.seen("jti-1", "https://other", future) is False  # a jti is unique per issuer
    assert store.seen("jti-2", "https://ehr", 1.0) is False  # already expired: evicted on the next call
    assert store.seen("jti-2", "https://ehr", future) is False
    # The proxy's id of one client request: the same request tried again on another instance is no replay.
    assert store.seen("jti-3", "https://ehr", future, "attempt-1") is False
    assert store.seen("jti-3", "https://ehr", future, "attempt-1") is False
    assert store.seen("jti-3", "https://ehr", future, "attempt-2") is True
    assert store.seen("jti-3", "https://ehr", future) is True
    assert store.seen("jti-2", "https://ehr", future, "attempt-1") is True  # recorded without one
    store.close()


def _post_all(base_url: str, bodies: list[dict]) -> list[int]:
    def post(body: dict) -> int:
        try:
            return requests.post(f"{base_url}/cds-services/{SIGN}/feedback", json=body, timeout=30).status_code
        except requests.RequestException:  # the service died mid-answer: not acknowledged
            return 0

    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(post, bodies))


def test_a_thousand_concurrent_feedback_posts_are_a_thousand_rows(database_url, tmp_path):
    server = start_service(tmp_path, DATABASE_URL=database_url, WORKERS="2")
    try:
        bodies = [{"feedback": [_feedback(f"card-{i}")]} for i in range(1000)]
        assert _post_all(server.base_url, bodies) == [200] * 1000
        assert _post_all(server.base_url, bodies[:100]) == [200] * 100  # replayed: nothing new
    finally:
        server.stop()
    store = Store(database_url)
    assert len(store.feedback_rows()) == 1000
    store.close()


def test_a_crash_loses_no_acknowledged_feedback(database_url, tmp_path):
    server = start_service(tmp_path, DATABASE_URL=database_url, WORKERS="2")
    cards = [f"crash-{uuid.uuid4()}" for _ in range(300)]
    bodies = [_feedback(card) for card in cards]  # bare objects, as HAPI sends them
    try:
        with ThreadPoolExecutor(max_workers=1) as killer:
            posting = ThreadPoolExecutor(max_workers=16)
            futures = [posting.submit(_post_all, server.base_url, [b]) for b in bodies]
            # Kill -9 the whole service while requests are still in flight.
            while sum(f.done() for f in futures) < 100:
                time.sleep(0.01)
            killer.submit(server.kill).result()
            statuses = [f.result()[0] for f in futures]
            posting.shutdown()
    finally:
        server.stop()
    acknowledged = {card for card, status in zip(cards, statuses, strict=True) if status == 200}
    assert len(acknowledged) >= 100
    store = Store(database_url)
    stored = {row["card_uuid"] for row in store.feedback_rows()}
    store.close()
    assert acknowledged <= stored


def test_feedback_report(tmp_path):
    database = f"sqlite:///{tmp_path / 'report.sqlite3'}"
    store = Store(database)
    store.record_cards_later(
        SIGN,
        "hook-1",
        [
            {"uuid": "a", "source": {"topic": {"code": "line-suggestion"}}, "suggestions": [{"uuid": "s"}]},
            {"uuid": "b", "source": {"topic": {"code": "line-suggestion"}}},
            {"uuid": "c", "source": {"topic": {"code": "documentation-incomplete"}}},
        ],
    )
    assert store.card_writer.flush(5)
    reason = {"reason": {"system": "urn:cpt64640-cds:override-reason", "code": "documented-elsewhere"}}
    store.store_feedback(
        SIGN,
        [
            _feedback("a", "accepted", acceptedSuggestions=[{"id": "s"}]),
            _feedback("b"),
            _feedback("c", overrideReason=reason),
        ],
    )
    store.close()
    run = subprocess.run(
        [sys.executable, "-m", "cpt64640_cds", "feedback-report", "--database-url", database, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    rules = {r["rule"]: r for r in json.loads(run.stdout)}
    assert rules["line-suggestion"] == {
        "rule": "line-suggestion",
        "issued": 2,
        "accepted": 1,
        "overridden": 1,
        "reasons": {"(no reason given)": 1},
    }
    assert rules["documentation-incomplete"]["reasons"] == {"documented-elsewhere": 1}
    table = subprocess.run(
        [sys.executable, "-m", "cpt64640_cds", "feedback-report", "--database-url", database],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert "line-suggestion" in table and "1 (50%)" in table and "documented-elsewhere" in table
