"""Alembic's environment: store/schema.py hands over a connection whose transaction it already holds (with the
lock that lets one upgrade run at a time), so every revision runs inside it and the caller commits."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():  # nothing of its own: the caller's transaction is already open
    context.run_migrations()
