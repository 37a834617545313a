"""The store's schema: the Alembic revisions of store/migrations, and retention (`cpt64640 db upgrade|current|prune`).

An embedded SQLite file is upgraded by the store itself when it first reaches it; any other database is upgraded
by an operator with `cpt64640 db upgrade`, under a role allowed DDL, and the service's own role needs none: its
store only checks the revision (`require_head`) and refuses to work on another (`SchemaNotReady`).

One upgrade runs at a time on a database: each holds a lock for its whole transaction (PostgreSQL: an advisory
transaction lock; SQLite: an exclusive transaction), and whoever comes second finds the work done. A database
made by version 0.2.0 (its three tables, no `alembic_version`) is revision 0001 and is stamped so on upgrade.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, delete, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from .engine import bounded_engine, call_within
from .tables import feedback, issued_card, jwt_seen

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")
# The offline commands wait longer than a store call: an upgrade may build indexes over a year of rows.
OFFLINE_TIMEOUT_MS = 60_000
FIRST = "0001"  # the schema of version 0.2.0, which made its tables without Alembic
FIRST_TABLES = frozenset({"issued_card", "feedback", "jwt_seen"})
UPGRADE_LOCK = 64640_14  # PostgreSQL advisory lock key: this service's schema upgrades


class SchemaNotReady(SQLAlchemyError):
    """The database's schema is not the one this version's queries need; `cpt64640 db upgrade` makes it so."""


@functools.cache
def head() -> str:
    """The revision this version of the service needs."""
    revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if revision is None:  # the package is broken, not the database
        raise RuntimeError(f"no Alembic revisions in {MIGRATIONS}")
    return revision


@functools.cache
def known() -> frozenset[str]:
    """Every revision this version ships."""
    return frozenset(script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions())


def current(url: str, *, timeout_ms: int = OFFLINE_TIMEOUT_MS) -> str | None:
    """The database's revision: None when it has no tables yet, "0001" for a database made by 0.2.0."""

    def read(engine: Engine) -> str | None:
        with engine.connect() as conn:
            return _found(conn)[0]

    return _offline(url, timeout_ms, read)


def upgrade(url: str, *, timeout_ms: int = OFFLINE_TIMEOUT_MS) -> tuple[str | None, str]:
    """Bring the database to `head()`; returns its revision before and after (the same when there was nothing to
    do). Needs a role allowed DDL (CREATE on the schema)."""
    return _offline(url, timeout_ms, migrate)


def prune(url: str, days: int, *, now: datetime | None = None, timeout_ms: int = OFFLINE_TIMEOUT_MS) -> dict[str, int]:
    """Delete issued-card records and feedback older than `days` days, and JWT ids whose token has expired (a
    replay of it is refused as expired anyway); returns the rows deleted per table. One transaction."""
    if days < 1:
        raise ValueError("retention must be at least one day")
    moment = (now or datetime.now(UTC)).astimezone(UTC)  # SQLite keeps the UTC wall clock: compare in UTC
    cutoff = moment - timedelta(days=days)

    def delete_old(engine: Engine) -> dict[str, int]:
        with engine.begin() as conn:
            require_head(conn)
            return {
                "issued_card": conn.execute(delete(issued_card).where(issued_card.c.issued_at < cutoff)).rowcount,
                "feedback": conn.execute(delete(feedback).where(feedback.c.received_at < cutoff)).rowcount,
                "jwt_seen": conn.execute(delete(jwt_seen).where(jwt_seen.c.expires_at < moment.timestamp())).rowcount,
            }

    return _offline(url, timeout_ms, delete_old)


def migrate(engine: Engine) -> tuple[str | None, str]:
    """`upgrade` through an engine the caller holds (the store's own, for its SQLite file)."""
    with engine.connect() as conn:
        _lock(conn)
        before, stamped = _found(conn)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        config.attributes["connection"] = conn  # migrations/env.py runs the revisions in this transaction
        if before is not None and not stamped:
            command.stamp(config, before)
        if before != head():
            command.upgrade(config, "head")
        require_head(conn)
        conn.commit()
    return before, head()


def require_head(conn: Connection) -> None:
    """Raise `SchemaNotReady` unless the database is at `head()` or at a revision this version does not know: a
    newer release's, upgraded while this one still runs (a rolling update). Revisions only add what older
    releases can ignore (CONTRIBUTING.md), so a newer schema serves them. Reads only: no DDL, whatever the
    database."""
    found, _ = _found(conn)
    if found != head() and (found is None or found in known()):
        raise SchemaNotReady(
            f"the database schema is at revision {found or 'none (no tables)'}, this version needs {head()}: "
            "run `cpt64640 db upgrade`"
        )


def _found(conn: Connection) -> tuple[str | None, bool]:
    """The database's revision, and whether `alembic_version` says so (False: no tables, or 0.2.0's)."""
    stamped = MigrationContext.configure(conn).get_current_revision()
    if stamped is not None:
        return stamped, True
    tables = FIRST_TABLES & set(inspect(conn).get_table_names())
    if tables == FIRST_TABLES:
        return FIRST, False
    if tables:
        raise SchemaNotReady(
            f"the database has some of the store's tables ({', '.join(sorted(tables))}) and no alembic_version: "
            "it was not made by this service; give the service a database of its own"
        )
    return None, False


def _lock(conn: Connection) -> None:
    """Begin the transaction holding the upgrade lock: a second upgrade waits here (within the timeout)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(UPGRADE_LOCK)))
    else:  # SQLite: other writers wait (busy_timeout); WAL readers go on
        conn.exec_driver_sql("BEGIN EXCLUSIVE")


def _offline(url: str, timeout_ms: int, work: Callable[[Engine], T]) -> T:
    engine = bounded_engine(url, timeout_ms)
    try:
        return call_within(timeout_ms / 1000, lambda: work(engine))
    finally:
        engine.dispose()
