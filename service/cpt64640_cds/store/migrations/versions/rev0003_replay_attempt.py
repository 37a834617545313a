"""The replay cache records the trusted proxy's id of the client request with each JWT id, so the proxy's retry of
that request on another instance is told apart from a replay (security/replay_cache.py). Nullable: the rows
already there, and tokens that came without a proxy, have none."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("jwt_seen", sa.Column("attempt", sa.String(64), nullable=True))
