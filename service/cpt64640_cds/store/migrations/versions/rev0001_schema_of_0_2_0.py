"""The schema version 0.2.0 made with `create_all`: cards issued, feedback, JWT ids seen.

A database made by 0.2.0 has these tables and no `alembic_version`: store/schema.py recognises it and stamps it
with this revision. Frozen: the tables as they were then, whatever store/tables.py says now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "issued_card",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("suggestion_uuids", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(256), nullable=False),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text),
        sa.Column("override_system", sa.Text),
        sa.Column("override_code", sa.Text),
        sa.Column("override_display", sa.Text),
        sa.Column("override_comment", sa.Text),
        sa.Column("outcome_timestamp", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_table(
        "jwt_seen",
        sa.Column("iss", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_jwt_seen_expires_at", "jwt_seen", ["expires_at"])
