"""`cpt64640 db upgrade | current | prune`: the store's schema migrations and retention (store/schema.py), run
offline by an operator or a deployment job. One human line each; a failure is one line on stderr and exit 2,
and a URL is never printed with its password."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..config import ConfigError, Settings


class DatabaseFailure(Exception):
    """A database command failed; the message is the one line the operator reads."""


def add(commands: Any) -> None:
    db = commands.add_parser("db", help="the store's schema migrations and retention")
    actions = db.add_subparsers(dest="action", required=True, help="what to do to the store")
    upgrade = actions.add_parser("upgrade", help="migrate the schema to this release's revision (creates it if new)")
    current = actions.add_parser("current", help="print the schema revision the store is at, and this release's")
    prune = actions.add_parser("prune", help="delete issued-card and feedback rows older than the retention period")
    prune.add_argument("--days", type=int, metavar="N", help="keep this many days (default CDS_RETENTION_DAYS or 365)")
    for action, run in ((upgrade, _upgrade), (current, _current), (prune, _prune)):
        action.add_argument(
            "--database-url",
            metavar="URL",
            help="the store (default DATABASE_URL, else the embedded SQLite file in the data directory)",
        )
        action.set_defaults(run=run)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(serving=False, **({"database_url": args.database_url} if args.database_url else {}))


def shown(url: str) -> str:
    """The URL as it may be printed: its password masked (a URL SQLAlchemy cannot read is not printed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL"


@contextmanager
def database_errors(doing: str, url: str) -> Iterator[None]:
    """What went wrong talking to the database as one line: the driver's first line, not a traceback."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, CommandError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise DatabaseFailure(f"cannot {doing} {shown(url)}: {first}") from None


def _upgrade(args: argparse.Namespace) -> int:
    from ..store import schema

    url = _settings(args).store_url
    with database_errors("upgrade", url):
        before, after = schema.upgrade(url)
    if before == after:
        print(f"{shown(url)} is already at {after}")
    else:
        print(f"upgraded {shown(url)} from {before or 'none'} to {after}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from ..store import schema

    url = _settings(args).store_url
    with database_errors("read the revision of", url):
        revision = schema.current(url)
    head = schema.head()
    if revision == head:
        print(f"{shown(url)} is at {head}, this release's revision")
    else:
        at = revision or "no revision"
        print(f"{shown(url)} is at {at}; this release's revision is {head} (cpt64640 db upgrade)")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ..store import schema

    settings = _settings(args)
    days = settings.retention_days if args.days is None else args.days
    if days < 1:
        raise ConfigError("--days must be at least 1")
    with database_errors("prune", settings.store_url):
        deleted = schema.prune(settings.store_url, days)
    counts = ", ".join(f"{count} from {table}" for table, count in deleted.items()) or "nothing"
    print(f"pruned {shown(settings.store_url)} of rows older than {days} days: {counts}")
    return 0
