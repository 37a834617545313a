"""The database engine with every wait bounded, and the client-side bound on a whole store call.

The driver's own timeouts (connect, statement, lock, pool) do not bound a call to a server that has stopped
answering: measured against a PostgreSQL frozen with SIGSTOP, the kernel still accepts and acknowledges our
packets, so `statement_timeout`, `tcp_user_timeout` and keepalives never fire and a query waits until the
server is thawed. `call_within` therefore runs each store call on a thread of its own and stops waiting at
the deadline; the abandoned thread ends when the driver gives up or the server answers. Those threads hold a
pooled connection each, so the pool size bounds them.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

# Per engine (one per worker process): the request threads, the card writer, and calls abandoned to a
# frozen server. Beyond that a call waits for a connection until its own deadline.
POOL_SIZE = 4
MAX_OVERFLOW = 4


class StoreTimeout(SQLAlchemyError):
    """The database did not answer a store call within the store's timeout (CDS_DATABASE_TIMEOUT_MS)."""


def database_url(given: str) -> URL:
    """The URL as this service reads it: `postgresql://` and `postgres://` (the form many hosts hand out) mean
    psycopg 3, the driver the service ships with, whichever default the installed SQLAlchemy picks; an explicit
    driver (`postgresql+psycopg2://`, `sqlite://`) is kept."""
    url = make_url(given)
    return url.set(drivername="postgresql+psycopg") if url.drivername in ("postgresql", "postgres") else url


def bounded_engine(given_url: str, timeout_ms: int) -> Engine:
    """An engine whose connect, statement, lock and pool waits are all bounded by `timeout_ms`."""
    url = database_url(given_url)
    seconds = timeout_ms / 1000
    backend = url.get_backend_name()
    # A server may drop idle connections: each checkout is pinged first. A SQLite file never does.
    options: dict[str, Any] = {"pool_pre_ping": backend != "sqlite"}
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        options.update(poolclass=StaticPool)  # one in-memory database, whichever thread calls
    else:
        options.update(pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_timeout=seconds)
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": seconds, "check_same_thread": False}
    elif backend == "postgresql":
        given = url.query.get("options", ())  # the URL's own server options are kept
        own = [given] if isinstance(given, str) else list(given)
        options["connect_args"] = {
            # libpq counts whole seconds (psycopg waits at least 2); call_within bounds the caller anyway.
            "connect_timeout": max(1, math.ceil(seconds)),
            "options": " ".join([*own, f"-c statement_timeout={timeout_ms}", f"-c lock_timeout={timeout_ms}"]),
            # Drops a connection whose packets go unacknowledged (a lost host or network), not a frozen server.
            "tcp_user_timeout": timeout_ms,
        }
    engine = create_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_pragmas, timeout_ms))
    return engine


def _sqlite_pragmas(timeout_ms: int, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")  # a locked database: wait this long, then fail
    # Turning a new file to WAL fails at once, without the busy wait, while another connection holds it (two
    # upgrades or workers meeting a fresh file): tried again until the timeout.
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def call_within(seconds: float, work: Callable[[], T]) -> T:
    """`work()`'s result or exception, or `StoreTimeout` once `seconds` have passed, whatever the database does."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to the caller, who decides
            future.set_exception(exc)

    threading.Thread(target=run, name="cpt64640-store-call", daemon=True).start()
    try:
        return future.result(timeout=seconds)
    except TimeoutError:
        raise StoreTimeout(f"the database did not answer within {seconds:g} s") from None
