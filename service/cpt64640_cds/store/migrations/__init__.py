"""Alembic's environment and revisions for the store's tables; run through store/schema.py, never an alembic.ini."""
