"""The database URL as the service reads it: PostgreSQL means psycopg 3 whatever SQLAlchemy's default driver."""

from __future__ import annotations

import pytest

from cpt64640_cds.store.engine import bounded_engine, database_url


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("postgresql://u:p%40ss@db:5432/cds", "postgresql+psycopg://u:p%40ss@db:5432/cds"),
        ("postgres://u:p@db/cds?sslmode=require", "postgresql+psycopg://u:p@db/cds?sslmode=require"),
        ("postgresql+psycopg://u@db/cds", "postgresql+psycopg://u@db/cds"),
        ("postgresql+psycopg2://u@db/cds", "postgresql+psycopg2://u@db/cds"),  # an explicit driver is kept
        ("sqlite:////var/lib/cds/store.sqlite3", "sqlite:////var/lib/cds/store.sqlite3"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_database_url(given, meant):
    assert database_url(given).render_as_string(hide_password=False) == meant


def test_the_engine_uses_psycopg_for_a_bare_postgres_url():
    engine = bounded_engine("postgres://u:p@127.0.0.1:1/cds", 1000)  # no connection is made here
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    engine.dispose()
