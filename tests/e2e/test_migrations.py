"""Schema migrations on both backends (a SQLite file, a database of a private PostgreSQL cluster): from nothing
and from the schema version 0.2.0 made, to head and matching store/tables.py; retention; concurrent upgrades;
and a service whose database role may not run DDL, on an upgraded database and on one that is not."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import ProgrammingError

from cpt64640_cds.store.schema import current, head, prune, upgrade
from cpt64640_cds.store.tables import feedback, issued_card, jwt_seen, metadata
from cpt64640_cds.tools.hook_requests import with_prefetch
from cpt64640_cds.tools.processes import Process, start_service

from ..conftest import SIGN, fixture_request
from ..postgres import PrivatePostgres
from .conftest import post_hook, prefetch_from

# The tables as version 0.2.0 made them (metadata.create_all), frozen here: store/tables.py moves on.
V020 = MetaData()
Table(
    "issued_card",
    V020,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(64), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("hook_instance", String(256), nullable=False),
    Column("suggestion_uuids", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)
Table(
    "feedback",
    V020,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("service_id", String(64), nullable=False),
    Column("card_uuid", String(256), nullable=False, index=True),
    Column("rule_id", String(64)),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text),
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("override_comment", Text),
    Column("outcome_timestamp", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
Table(
    "jwt_seen",
    V020,
    Column("iss", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _database(postgres: PrivatePostgres, owner: str = "postgres") -> str:
    name = f"db_{uuid.uuid4().hex[:12]}"
    _as_superuser(postgres, f"CREATE DATABASE {name} OWNER {owner}")
    return postgres.url.rsplit("/", 1)[0] + "/" + name


def _as_superuser(postgres: PrivatePostgres, *statements: str, database: str = "postgres") -> None:
    engine = create_engine(postgres.url.rsplit("/", 1)[0] + "/" + database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path) -> str:
    """An empty database of either backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return _database(request.getfixturevalue("postgres"))


def _with_engine(url: str, work: Callable[[Engine], Any]) -> Any:
    engine = create_engine(url)
    try:
        return work(engine)
    finally:
        engine.dispose()


def _differences(url: str) -> list[Any]:
    """What Alembic finds different between the database's schema and store/tables.py; [] when they match."""

    def compare(engine: Engine) -> list[Any]:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))

    return _with_engine(url, compare)


def _versions(url: str) -> list[str]:
    def read(engine: Engine) -> list[str]:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())

    return _with_engine(url, read)


def _card(card_uuid: str, issued_at: datetime) -> dict[str, Any]:
    return {
        "card_uuid": card_uuid,
        "service_id": SIGN,
        "rule_id": "line-suggestion",
        "hook_instance": "hook-1",
        "suggestion_uuids": "[]",
        "issued_at": issued_at,
    }


def _feedback(card_uuid: str, received_at: datetime) -> dict[str, Any]:
    return {
        "dedup_key": uuid.uuid4().hex,
        "service_id": SIGN,
        "card_uuid": card_uuid,
        "outcome": "overridden",
        "outcome_timestamp": "2026-12-01T10:00:00Z",
        "received_at": received_at,
    }


def test_an_empty_database_is_upgraded_to_head_once(fresh_url):
    assert head() == "0003"
    assert current(fresh_url) is None
    assert upgrade(fresh_url) == (None, "0003")
    assert current(fresh_url) == "0003"
    assert _differences(fresh_url) == []  # store/tables.py is the schema the revisions make
    assert upgrade(fresh_url) == ("0003", "0003")  # nothing to do
    assert _versions(fresh_url) == ["0003"]


def test_a_database_made_by_0_2_0_is_upgraded_and_keeps_its_rows(fresh_url):
    old = NOW - timedelta(days=3)

    def make_0_2_0(engine: Engine) -> None:
        V020.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(V020.tables["issued_card"]), [_card("a", old), _card("b", NOW)])
            conn.execute(insert(V020.tables["feedback"]), [_feedback("a", old)])
            conn.execute(insert(V020.tables["jwt_seen"]), [{"iss": "https://ehr", "jti": "j1", "expires_at": 4e9}])

    _with_engine(fresh_url, make_0_2_0)
    assert current(fresh_url) == "0001"  # recognised by its tables: no alembic_version yet
    assert _differences(fresh_url) != []  # the retention indexes are missing: the comparison sees them
    assert upgrade(fresh_url) == ("0001", "0003")
    assert _versions(fresh_url) == ["0003"]
    assert _differences(fresh_url) == []

    def rows(engine: Engine) -> tuple[list[Any], ...]:
        with engine.connect() as conn:
            return (
                list(conn.execute(select(issued_card.c.card_uuid).order_by(issued_card.c.card_uuid)).scalars()),
                list(conn.execute(select(feedback.c.card_uuid, feedback.c.received_at)).all()),
                list(conn.execute(select(jwt_seen.c.jti)).scalars()),
            )

    cards, feedback_rows, jtis = _with_engine(fresh_url, rows)
    assert cards == ["a", "b"] and jtis == ["j1"]
    [(card, received_at)] = feedback_rows
    assert card == "a" and received_at.replace(tzinfo=UTC) == old


def test_prune_deletes_exactly_the_rows_past_retention(fresh_url):
    upgrade(fresh_url)
    cutoff = NOW - timedelta(days=30)

    def fill(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(
                insert(issued_card),
                [
                    _card("old-1", cutoff - timedelta(days=200)),
                    _card("old-2", cutoff - timedelta(seconds=1)),
                    _card("kept-1", cutoff + timedelta(seconds=1)),
                    _card("kept-2", NOW),
                ],
            )
            conn.execute(
                insert(feedback),
                [_feedback("old-1", cutoff - timedelta(hours=1)), _feedback("kept-1", cutoff + timedelta(hours=1))],
            )
            conn.execute(
                insert(jwt_seen),
                [
                    {"iss": "https://ehr", "jti": "expired", "expires_at": NOW.timestamp() - 1},
                    {"iss": "https://ehr", "jti": "live", "expires_at": NOW.timestamp() + 300},
                ],
            )

    _with_engine(fresh_url, fill)
    assert prune(fresh_url, 30, now=NOW) == {"issued_card": 2, "feedback": 1, "jwt_seen": 1}

    def left(engine: Engine) -> tuple[set[str], set[str], set[str]]:
        with engine.connect() as conn:
            return (
                set(conn.execute(select(issued_card.c.card_uuid)).scalars()),
                set(conn.execute(select(feedback.c.card_uuid)).scalars()),
                set(conn.execute(select(jwt_seen.c.jti)).scalars()),
            )

    assert _with_engine(fresh_url, left) == ({"kept-1", "kept-2"}, {"kept-1"}, {"live"})
    assert prune(fresh_url, 30, now=NOW) == {"issued_card": 0, "feedback": 0, "jwt_seen": 0}


def test_concurrent_upgrades_of_one_database_all_succeed(fresh_url):
    start = threading.Barrier(4)

    def race(_: int) -> tuple[str | None, str]:
        start.wait(timeout=30)
        return upgrade(fresh_url)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(race, range(4)))
    assert sorted(results, key=lambda result: result[0] or "") == [(None, "0003")] + [("0003", "0003")] * 3
    assert _versions(fresh_url) == ["0003"]
    assert _differences(fresh_url) == []


# PostgreSQL with the roles of a production deployment: an owner runs the upgrades, the service's role may
# read and write the rows and nothing more.

OWNER, SERVICE = "cds_owner", "cds_service"
DDL = re.compile(r"(statement|execute [^:]*): (CREATE|ALTER|DROP) ", re.IGNORECASE)


@pytest.fixture(scope="module")
def roles(postgres) -> PrivatePostgres:
    _as_superuser(
        postgres,
        f"CREATE ROLE {OWNER} LOGIN",
        f"CREATE ROLE {SERVICE} LOGIN",
        f"ALTER ROLE {SERVICE} SET log_statement = 'ddl'",  # any DDL it sends is in the server's log
    )
    return postgres


def _role_database(postgres: PrivatePostgres) -> tuple[str, str]:
    """A database the owner owns, where the service's role may only use the rows of the owner's tables."""
    owner_url = _database(postgres, OWNER).replace("postgres@", f"{OWNER}@")
    name = owner_url.rsplit("/", 1)[1]
    _as_superuser(postgres, "REVOKE CREATE ON SCHEMA public FROM PUBLIC", database=name)  # as PostgreSQL 15+ does
    _as_superuser(
        postgres,
        f"GRANT CREATE, USAGE ON SCHEMA public TO {OWNER}",
        f"GRANT USAGE ON SCHEMA public TO {SERVICE}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {SERVICE}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA public GRANT USAGE ON SEQUENCES TO {SERVICE}",
        database=name,
    )
    return owner_url, owner_url.replace(f"{OWNER}@", f"{SERVICE}@")


def _log_size(postgres: PrivatePostgres) -> int:
    return (postgres.folder / "log").stat().st_size


def _ddl_logged_since(postgres: PrivatePostgres, offset: int) -> list[str]:
    with (postgres.folder / "log").open("rb") as log:
        log.seek(offset)
        return [line for line in log.read().decode(errors="replace").splitlines() if DDL.search(line)]


def _try_ddl(url: str) -> None:
    def create(engine: Engine) -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE probe (id int)")

    _with_engine(url, create)


def _readiness(server: Process) -> dict[str, Any]:
    """/readyz once the answering worker is warm (its store check is what the test looks at)."""
    deadline = time.monotonic() + 60
    while True:
        answer = requests.get(f"{server.base_url}/readyz", timeout=10)
        if answer.json()["warm"] or time.monotonic() > deadline:
            return {"code": answer.status_code, **answer.json()}
        time.sleep(0.2)


def _hook(server: Process) -> requests.Response:
    request = fixture_request("order-sign-lfcn-left")
    body = {**with_prefetch(request, prefetch_from(None, request)), "hookInstance": str(uuid.uuid4())}
    return post_hook(server.base_url, SIGN, body)


def _post_feedback(server: Process, card: str) -> requests.Response:
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z"}
    return requests.post(f"{server.base_url}/cds-services/{SIGN}/feedback", json=item, timeout=30)


def test_a_service_role_without_ddl_rights_serves_an_upgraded_database(roles, tmp_path):
    owner_url, service_url = _role_database(roles)
    assert upgrade(owner_url) == (None, "0003")
    with pytest.raises(ProgrammingError, match="permission denied"):  # the role really may not run DDL
        _try_ddl(service_url)
    offset = _log_size(roles)
    server = start_service(tmp_path, DATABASE_URL=service_url)
    try:
        assert _readiness(server) == {"code": 200, "status": "ready", "warm": True, "store": "reachable"}
        hook = _hook(server)
        assert hook.status_code == 200 and hook.json()["cards"]
        card = hook.json()["cards"][0]["uuid"]
        assert _post_feedback(server, card).json() == {"received": 1, "stored": 1}
    finally:
        server.stop()

    def stored(engine: Engine) -> tuple[list[Any], list[Any]]:
        with engine.connect() as conn:
            return (
                list(conn.execute(select(feedback.c.card_uuid)).scalars()),
                list(conn.execute(select(issued_card.c.card_uuid, issued_card.c.rule_id)).all()),
            )

    feedback_cards, card_records = _with_engine(owner_url, stored)
    assert feedback_cards == [card]
    assert (card, "line-suggestion") in card_records  # the card writer wrote it (at the stop at the latest)
    assert _ddl_logged_since(roles, offset) == []


def test_a_database_not_upgraded_is_reported_and_left_alone(roles, tmp_path):
    owner_url, service_url = _role_database(roles)
    _with_engine(owner_url, V020.create_all)  # what version 0.2.0 left; the grants reach its tables by default
    offset = _log_size(roles)
    server = start_service(tmp_path, DATABASE_URL=service_url)
    try:
        assert _readiness(server) == {"code": 503, "status": "not-ready", "warm": True, "store": "needs-upgrade"}
        hook = _hook(server)
        assert hook.status_code == 200 and hook.json()["cards"]  # the hooks never wait on the store
        refused = _post_feedback(server, "card-1")
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        assert current(owner_url) == "0001"  # untouched: no DDL attempted
        assert _ddl_logged_since(roles, offset) == []
        log = server.log_lines()
        assert any("store-schema-not-ready" in line and "cpt64640 db upgrade" in line for line in log)
        # The operator upgrades; the running service takes it up without a restart.
        assert upgrade(owner_url) == ("0001", "0003")
        assert _readiness(server)["store"] == "reachable"
        assert _post_feedback(server, "card-1").json() == {"received": 1, "stored": 1}
    finally:
        server.stop()


def test_the_server_log_shows_ddl_of_the_service_role(roles):
    """The control of the two tests above: a DDL statement from the service's role does reach the log."""
    _, service_url = _role_database(roles)
    offset = _log_size(roles)
    with pytest.raises(ProgrammingError):
        _try_ddl(service_url)
    assert _ddl_logged_since(roles, offset)
