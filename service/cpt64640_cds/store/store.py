"""Storage through SQLAlchemy: the cards we issued (so feedback knows its rule), the feedback itself, and
the JWT ids already seen (the replay cache every worker shares).

SQLite (WAL) by default, PostgreSQL through DATABASE_URL; the tables come from Alembic revisions
(store/schema.py). Nothing patient-related is stored: a card row holds its uuid, service, rule and hook
instance; a feedback row holds what the client sent about a card. Feedback is stored idempotently: the same
feedback posted twice is one row.

No call waits on the database longer than the store's timeout (CDS_DATABASE_TIMEOUT_MS; store/engine.py),
and the hook path never waits on it at all: card records go through a background writer (store/card_writer.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ..logs import LOGGER_NAME, event
from .card_writer import CardWriter, DropListener, Row
from .engine import bounded_engine, call_within
from .schema import SchemaNotReady, migrate, require_head
from .tables import feedback, issued_card, jwt_seen

T = TypeVar("T")

CHUNK_ROWS = 500  # rows per INSERT statement: 13 columns x 500 stays under every backend's parameter limit


class Store:
    """Every call returns or raises (a `SQLAlchemyError`; `StoreTimeout` when the database did not answer,
    `SchemaNotReady` when its schema is not this version's) within `timeout_ms`, whatever the database does
    (store/engine.py)."""

    def __init__(self, database_url: str, *, timeout_ms: int = 1000, on_cards_dropped: DropListener | None = None):
        self.timeout = timeout_ms / 1000
        self.engine: Engine = bounded_engine(database_url, timeout_ms)
        self.card_writer = CardWriter(self._write_card_rows, on_cards_dropped)
        self._schema_ready = False
        logger = logging.getLogger(LOGGER_NAME)
        try:
            self._within(lambda: None)  # readies the schema (store/schema.py)
        except SchemaNotReady as exc:  # every call fails alike until an operator upgrades the database
            event(logger, "store-schema-not-ready", logging.ERROR, detail=str(exc))
        except SQLAlchemyError as exc:
            # Not fatal: the hooks do not need the database, and a worker (re)started during an outage must not
            # fail to boot (gunicorn would halt). The first call that reaches the database readies the schema.
            event(logger, "store-unavailable", logging.WARNING, error=type(exc).__name__)

    def _within(self, work: Callable[[], T]) -> T:
        def run() -> T:
            if not self._schema_ready:
                self._ready_schema()
            return work()

        return call_within(self.timeout, run)

    def _ready_schema(self) -> None:
        """The embedded SQLite file is upgraded here, once (the serve master's store does it before forking).
        Any other database is only checked: the service's role needs no DDL rights, and an operator upgrades
        it with `cpt64640 db upgrade`. Until then every call raises `SchemaNotReady`, checking again each time."""
        if self.engine.dialect.name == "sqlite":
            migrate(self.engine)
        else:
            with self.engine.connect() as conn:
                require_head(conn)
        self._schema_ready = True

    def readiness(self) -> str:
        """For /readyz: "reachable" when the database answers within the store's timeout and has this
        version's schema, "needs-upgrade" when it answers with another, "unreachable" otherwise."""

        def ping() -> None:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")

        try:
            self._within(ping)
        except SchemaNotReady:
            return "needs-upgrade"
        except SQLAlchemyError:
            return "unreachable"
        return "reachable"

    def _insert(self, table: Table) -> Any:  # the dialect's INSERT, which knows ON CONFLICT
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def record_cards_later(self, service_id: str, hook_instance: str, cards: Iterable[Mapping[str, Any]]) -> None:
        """Queue the card records for the background writer; returns at once, whatever the database does."""
        self.card_writer.submit(_card_rows(service_id, hook_instance, cards))

    def _write_card_rows(self, rows: list[Row]) -> None:
        def write() -> None:
            with self.engine.begin() as conn:
                for chunk in _chunks(rows):
                    conn.execute(self._insert(issued_card).on_conflict_do_nothing(), chunk)

        if rows:
            self._within(write)

    def store_feedback(self, service_id: str, items: Iterable[Mapping[str, Any]]) -> int:
        """Store each feedback item once, in one transaction of batch INSERTs; returns how many rows were new."""
        rows = list({row["dedup_key"]: row for row in (_feedback_row(service_id, item) for item in items)}.values())

        def store() -> int:
            new = 0
            with self.engine.begin() as conn:
                for chunk in _chunks(rows):
                    cards = {row["card_uuid"] for row in chunk}
                    rules = dict(
                        conn.execute(
                            select(issued_card.c.card_uuid, issued_card.c.rule_id).where(
                                issued_card.c.card_uuid.in_(cards)
                            )
                        ).all()
                    )
                    values = [{**row, "rule_id": rules.get(row["card_uuid"])} for row in chunk]
                    # One multi-row INSERT per chunk (SQLAlchemy's "insertmanyvalues"); RETURNING says which rows
                    # went in on every backend (rowcount does not with psycopg).
                    inserted = conn.execute(
                        self._insert(feedback).on_conflict_do_nothing().returning(feedback.c.id), values
                    )
                    new += len(inserted.all())
            return new

        return self._within(store) if rows else 0

    def seen(self, jti: str, iss: str, expires_at: float, attempt: str | None = None) -> bool:
        """JWT replay cache shared by every worker: True when (iss, jti) was already recorded and unexpired,
        unless it was recorded with this same non-empty proxy attempt id (security/replay_cache.py)."""

        def check() -> bool:
            now = time.time()
            with self.engine.begin() as conn:
                conn.execute(delete(jwt_seen).where(jwt_seen.c.expires_at < now))
                # Insert or nothing first: of two concurrent first sights exactly one inserts.
                inserted = conn.execute(
                    self._insert(jwt_seen)
                    .values(iss=iss, jti=jti, expires_at=expires_at, attempt=attempt or None)
                    .on_conflict_do_nothing()
                    .returning(jwt_seen.c.jti)
                ).all()
                if inserted:
                    return False
                if not attempt:
                    return True
                recorded = conn.execute(
                    select(jwt_seen.c.attempt).where(jwt_seen.c.iss == iss, jwt_seen.c.jti == jti)
                ).scalar()
            return recorded != attempt  # a row gone meanwhile (expired) is None: seen

        return self._within(check)

    def report(self) -> list[dict[str, Any]]:
        """Per rule: cards issued, feedback received, accepted and overridden, and overrides per reason.

        A feedback row stored before its card's record was written is counted under the card's rule now;
        feedback about a card this deployment did not issue is reported under rule "unknown"."""
        rule = func.coalesce(feedback.c.rule_id, issued_card.c.rule_id)

        def read() -> tuple[dict[str, int], list[Any]]:
            with self.engine.connect() as conn:
                issued: dict[str, int] = dict(
                    conn.execute(select(issued_card.c.rule_id, func.count()).group_by(issued_card.c.rule_id)).all()
                )
                rows = conn.execute(
                    select(rule, feedback.c.outcome, feedback.c.override_code, func.count())
                    .select_from(feedback.outerjoin(issued_card, feedback.c.card_uuid == issued_card.c.card_uuid))
                    .group_by(rule, feedback.c.outcome, feedback.c.override_code)
                ).all()
            return issued, list(rows)

        issued, rows = self._within(read)
        rules: dict[str, dict[str, Any]] = {}
        for rule_id in issued:
            rules[rule_id] = {"rule": rule_id, "issued": issued[rule_id], "accepted": 0, "overridden": 0, "reasons": {}}
        for rule_id, outcome, code, count in rows:
            entry = rules.setdefault(
                rule_id or "unknown",
                {"rule": rule_id or "unknown", "issued": 0, "accepted": 0, "overridden": 0, "reasons": {}},
            )
            entry[outcome] += count
            if outcome == "overridden":
                reason = code if code else "(no reason given)"
                entry["reasons"][reason] = entry["reasons"].get(reason, 0) + count
        return sorted(rules.values(), key=lambda r: r["rule"])

    def feedback_rows(self) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(select(feedback).order_by(feedback.c.id))]

        return self._within(read)

    def feedback_for(self, card_uuid: str) -> list[dict[str, Any]]:
        """The feedback stored about one card, with the rule that issued it (the playground shows it)."""
        rule = func.coalesce(feedback.c.rule_id, issued_card.c.rule_id).label("rule_id")
        columns = [c for c in feedback.c if c.name not in ("rule_id", "dedup_key", "id")]

        def read() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(*columns, rule)
                    .select_from(feedback.outerjoin(issued_card, feedback.c.card_uuid == issued_card.c.card_uuid))
                    .where(feedback.c.card_uuid == card_uuid)
                    .order_by(feedback.c.id)
                )
                return [dict(r._mapping) for r in rows]

        return self._within(read)

    def close(self) -> None:
        """Write the queued card records (for at most the store's timeout), then let the connections go."""
        self.card_writer.close(self.timeout)
        self.engine.dispose()


def _chunks(rows: list[Row]) -> Iterator[list[Row]]:
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


def _card_rows(service_id: str, hook_instance: str, cards: Iterable[Mapping[str, Any]]) -> list[Row]:
    return [
        {
            "card_uuid": card["uuid"],
            "service_id": service_id,
            "rule_id": card["source"]["topic"]["code"],
            "hook_instance": hook_instance,
            "suggestion_uuids": json.dumps([s["uuid"] for s in card.get("suggestions", [])]),
            "issued_at": datetime.now(UTC),
        }
        for card in cards
    ]


def _feedback_row(service_id: str, item: Mapping[str, Any]) -> Row:
    accepted = sorted(s["id"] for s in item.get("acceptedSuggestions") or [])
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    identity = [
        service_id,
        item["card"],
        item["outcome"],
        item["outcomeTimestamp"],
        accepted,
        reason.get("system"),
        reason.get("code"),
        override.get("userComment"),
    ]
    return {
        "dedup_key": hashlib.sha256(json.dumps(identity).encode()).hexdigest(),
        "service_id": service_id,
        "card_uuid": item["card"],
        "rule_id": None,  # filled in store_feedback when this deployment's record of the card is there
        "outcome": item["outcome"],
        "accepted_suggestions": json.dumps(accepted) if accepted else None,
        "override_system": reason.get("system"),
        "override_code": reason.get("code"),
        "override_display": reason.get("display"),
        "override_comment": override.get("userComment"),
        "outcome_timestamp": item["outcomeTimestamp"],
        "received_at": datetime.now(UTC),
    }
