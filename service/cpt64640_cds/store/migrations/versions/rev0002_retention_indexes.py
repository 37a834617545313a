"""Retention: `cpt64640 db prune` deletes issued cards and feedback by age, so both are indexed by time."""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("ix_issued_card_issued_at", "issued_card", ["issued_at"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
