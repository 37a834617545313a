"""The tables: cards issued (uuid → rule, for feedback), feedback, and JWT ids seen. Nothing patient-related.

What the queries use; the database gets its tables from the revisions in migrations/versions (store/schema.py),
and a test holds these definitions to the schema the last revision makes. A change here needs a new revision."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

issued_card = Table(
    "issued_card",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(64), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("hook_instance", String(256), nullable=False),
    Column("suggestion_uuids", Text, nullable=False),  # JSON array
    Column("issued_at", DateTime(timezone=True), nullable=False, index=True),  # retention
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("service_id", String(64), nullable=False),
    Column("card_uuid", String(256), nullable=False, index=True),
    Column("rule_id", String(64)),  # null when the card was not issued by this deployment
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text),  # JSON array of suggestion uuids
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("override_comment", Text),
    Column("outcome_timestamp", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),  # retention
)

jwt_seen = Table(
    "jwt_seen",
    metadata,
    Column("iss", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
    Column("attempt", String(64)),  # the trusted proxy's id of the client request that brought it; null: none
)
