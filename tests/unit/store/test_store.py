"""The store's bounds: a call returns or raises within the timeout whatever the database does, a locked
SQLite fails after the timeout (not SQLite's default 5 s), and feedback stored before its card record is
still reported under the card's rule. Its schema: an embedded SQLite file upgraded by the store itself, a
database with tables of another's refused."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from cpt64640_cds.store.engine import StoreTimeout, call_within
from cpt64640_cds.store.schema import SchemaNotReady, current, head, prune, require_head
from cpt64640_cds.store.store import Store


def test_call_within_stops_waiting_at_the_deadline():
    started = time.monotonic()
    with pytest.raises(StoreTimeout):
        call_within(0.2, lambda: time.sleep(2))
    assert time.monotonic() - started < 0.5
    assert call_within(1, lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        call_within(1, lambda: 1 / 0)


def test_a_locked_sqlite_fails_within_the_timeout(tmp_path):
    path = tmp_path / "locked.sqlite3"
    store = Store(f"sqlite:///{path}", timeout_ms=300)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 300
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    try:
        with pytest.raises(SQLAlchemyError) as failure:
            store.store_feedback("s", [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-12-01"}])
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert time.monotonic() - started < 0.3 + 0.5
    assert "locked" in str(failure.value) or isinstance(failure.value, StoreTimeout)
    store.close()


def test_feedback_before_its_card_record_is_reported_under_the_rule(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'late.sqlite3'}")
    store.store_feedback("s", [{"card": "a", "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z"}])
    store.record_cards_later("s", "hook-1", [{"uuid": "a", "source": {"topic": {"code": "line-suggestion"}}}])
    assert store.card_writer.flush(5)
    [rule] = store.report()
    assert (rule["rule"], rule["issued"], rule["overridden"]) == ("line-suggestion", 1, 1)
    store.close()


def test_the_store_upgrades_its_sqlite_file_itself(tmp_path):
    url = f"sqlite:///{tmp_path / 'own.sqlite3'}"
    assert current(url) is None
    store = Store(url)
    assert current(url) == head()
    assert store.readiness() == "reachable"
    store.close()
    memory = Store("sqlite://")  # one in-memory database: upgraded through the store's own connection
    assert memory.store_feedback("s", [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-12-01"}]) == 1
    memory.close()


def test_a_newer_releases_schema_serves_an_older_one_never(tmp_path):
    """A rolling update: instances of this release still run after the next one's migration."""
    url = f"sqlite:///{tmp_path / 'rolling.sqlite3'}"
    Store(url).close()
    engine = create_engine(url)
    for revision, ready in (("9999-next-release", True), ("0001", False), (head(), True)):
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        with engine.connect() as conn:
            if ready:
                require_head(conn)
            else:
                with pytest.raises(SchemaNotReady, match="db upgrade"):
                    require_head(conn)
    engine.dispose()


def test_a_database_with_foreign_tables_is_refused(tmp_path):
    path = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE feedback (id integer primary key)")  # someone else's table of that name
    conn.close()
    store = Store(f"sqlite:///{path}")
    assert store.readiness() == "needs-upgrade"
    with pytest.raises(SchemaNotReady, match="not made by this service"):
        store.feedback_rows()
    store.close()


def test_prune_keeps_at_least_a_day(tmp_path):
    with pytest.raises(ValueError, match="at least one day"):
        prune(f"sqlite:///{tmp_path / 'p.sqlite3'}", 0)


def test_the_replay_table_takes_the_same_proxy_attempt_for_no_replay(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'replay.sqlite3'}")
    future = 4102444800.0  # 2100-01-01
    assert store.seen("j1", "https://ehr", future, "attempt-1") is False
    assert store.seen("j1", "https://ehr", future, "attempt-1") is False  # the proxy tried the request again
    assert store.seen("j1", "https://ehr", future, "attempt-2") is True
    assert store.seen("j1", "https://ehr", future) is True
    assert store.seen("j2", "https://ehr", future) is False  # recorded without an attempt: never taken for one
    assert store.seen("j2", "https://ehr", future, "attempt-1") is True
    assert store.seen("j3", "https://ehr", future, "") is False
    assert store.seen("j3", "https://ehr", future, "") is True  # an empty id is none
    store.close()
