"""JSON-lines logging. Callers pass only operational fields: ids of hook calls, statuses, timings, rule
ids, prefetch keys. Never patient identifiers, resource content, URLs with queries, or tokens.

Records of other loggers (gunicorn, libraries) are written in the same format, with their own words only: a
value substituted into their message is kept when it is a number, and replaced by its type's name otherwise
(it may be the client's: a request path, a header, an exception quoting bytes), unless the formatter was told
the message's template is one whose values the process chose itself (`trusted`)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Collection
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "cpt64640"

# The id of the request being answered in this thread (set by the web layer): on every line it logs meanwhile.
REQUEST_ID: ContextVar[str | None] = ContextVar("cpt64640_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def __init__(self, trusted: Collection[str] = ()) -> None:
        super().__init__()
        self.trusted = frozenset(trusted)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
        }
        if record.name == LOGGER_NAME or record.name.startswith(LOGGER_NAME + "."):
            entry["event"] = record.getMessage()
        else:
            entry.update(event=record.name.split(".")[0], logger=record.name, message=self._own_words(record))
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["requestId"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            # Type and frames only: exception messages can quote request content.
            entry["error"] = record.exc_info[0].__name__
            entry["frames"] = [
                f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}:{frame.name}"
                for frame in _frames(record.exc_info[2])
            ]
        return json.dumps(entry, default=str)

    def _own_words(self, record: logging.LogRecord) -> str:
        if not isinstance(record.msg, str):  # an exception logged as the message: its text may quote the client
            return f"<{type(record.msg).__name__}>"
        if not record.args:
            return record.msg  # the library's own text
        if record.msg in self.trusted:
            return record.getMessage()
        values = record.args if isinstance(record.args, tuple) else (record.args,)
        shown = tuple(v if isinstance(v, int | float) else f"<{type(v).__name__}>" for v in values)
        try:
            return record.msg % shown
        except (TypeError, ValueError, KeyError):
            return record.msg


def _frames(tb: Any) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb))[-8:]


def json_handler(trusted: Collection[str] = ()) -> logging.Handler:
    """A handler writing JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(trusted))
    return handler


def configure(level: str) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        logger.addHandler(json_handler())
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


def capture_all() -> None:
    """The whole process's log in JSON lines: libraries' warnings and errors (the root logger) and Python's
    warnings, which would otherwise be written to stderr as plain text. For a server's process, not a library's
    caller: it replaces the root logger's handlers."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler())
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields})
