"""Retention of the embedded SQLite file: `serve` prunes it at each start (nobody else maintains it), while a
shared database is left to `cpt64640 db prune` on a schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, select

from cpt64640_cds.store.schema import upgrade
from cpt64640_cds.store.tables import issued_card
from cpt64640_cds.tools.processes import start_service


def _card(uuid: str, issued_at: datetime) -> dict[str, object]:
    return {
        "card_uuid": uuid,
        "service_id": "cpt64640-order-sign",
        "rule_id": "line-suggestion",
        "hook_instance": "h",
        "suggestion_uuids": "[]",
        "issued_at": issued_at,
    }


def test_serve_prunes_its_embedded_database_at_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'kept.sqlite3'}"
    upgrade(url)
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(issued_card), [_card("old", now - timedelta(days=31)), _card("new", now)])
    server = start_service(tmp_path, DATABASE_URL=url, CDS_RETENTION_DAYS="30", CDS_FRONT="none")
    server.stop()
    with engine.connect() as conn:
        assert set(conn.scalars(select(issued_card.c.card_uuid))) == {"new"}
    engine.dispose()
    events = [json.loads(line) for line in server.log_lines() if line.startswith("{")]
    pruned = [e for e in events if e["event"] == "pruned"]
    assert len(pruned) == 1 and pruned[0]["issued_card"] == 1 and pruned[0]["days"] == 30
