"""Storage through SQLAlchemy: the cards we issued (so feedback knows its rule), the feedback itself, and
the JWT ids already seen (the replay cache every worker shares).

SQLite (WAL) by default, PostgreSQL through DATABASE_URL. Nothing patient-related is stored: a card row
holds its uuid, service, rule and hook instance; a feedback row holds what the client sent about a card.
Feedback is stored idempotently: the same feedback posted twice is one row.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, delete, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from .tables import feedback, issued_card, jwt_seen, metadata


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Store:
    def __init__(self, database_url: str):
        url = make_url(database_url)
        if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._create_tables()

    def _create_tables(self) -> None:
        # Several gunicorn workers may start at once; a lost race on CREATE TABLE is harmless.
        for attempt in range(3):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except OperationalError:
                if attempt == 2:
                    raise

    def _insert(self, table: Table) -> Any:  # the dialect's INSERT, which knows ON CONFLICT
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def record_cards(self, service_id: str, hook_instance: str, cards: Iterable[Mapping[str, Any]]) -> None:
        rows = [
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
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self._insert(issued_card).on_conflict_do_nothing(), rows)

    def store_feedback(self, service_id: str, items: Iterable[Mapping[str, Any]]) -> int:
        """Store each feedback item once; returns how many rows were new."""
        items = list(items)
        with self.engine.begin() as conn:
            cards = {item["card"] for item in items}
            rules = dict(
                conn.execute(
                    select(issued_card.c.card_uuid, issued_card.c.rule_id).where(issued_card.c.card_uuid.in_(cards))
                ).all()
            )
            new = 0
            for item in items:
                row = _feedback_row(service_id, item, rules.get(item["card"]))
                # RETURNING says whether the row went in on every backend (rowcount does not with psycopg).
                inserted = conn.execute(
                    self._insert(feedback).values(row).on_conflict_do_nothing().returning(feedback.c.id)
                )
                new += len(inserted.all())
        return new

    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        """JWT replay cache shared by every worker: True when (iss, jti) was already recorded and unexpired."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(jwt_seen).where(jwt_seen.c.expires_at < now))
            inserted = conn.execute(
                self._insert(jwt_seen)
                .values(iss=iss, jti=jti, expires_at=expires_at)
                .on_conflict_do_nothing()
                .returning(jwt_seen.c.jti)
            ).all()
        return not inserted

    def report(self) -> list[dict[str, Any]]:
        """Per rule: cards issued, feedback received, accepted and overridden, and overrides per reason.

        Feedback about a card this deployment did not issue is reported under rule "unknown"."""
        with self.engine.connect() as conn:
            issued: dict[str, int] = dict(
                conn.execute(select(issued_card.c.rule_id, func.count()).group_by(issued_card.c.rule_id)).all()
            )
            rows = conn.execute(
                select(feedback.c.rule_id, feedback.c.outcome, feedback.c.override_code, func.count()).group_by(
                    feedback.c.rule_id, feedback.c.outcome, feedback.c.override_code
                )
            ).all()
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
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(feedback).order_by(feedback.c.id))]

    def close(self) -> None:
        self.engine.dispose()


def _feedback_row(service_id: str, item: Mapping[str, Any], rule_id: str | None) -> dict[str, Any]:
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
        "rule_id": rule_id,
        "outcome": item["outcome"],
        "accepted_suggestions": json.dumps(accepted) if accepted else None,
        "override_system": reason.get("system"),
        "override_code": reason.get("code"),
        "override_display": reason.get("display"),
        "override_comment": override.get("userComment"),
        "outcome_timestamp": item["outcomeTimestamp"],
        "received_at": datetime.now(UTC),
    }
