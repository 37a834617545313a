"""Storage through SQLAlchemy: SQLite (WAL) by default, PostgreSQL by URL."""
