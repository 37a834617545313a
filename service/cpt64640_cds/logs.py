"""JSON-lines logging. Callers pass only operational fields: ids of hook calls, statuses, timings, rule
ids, prefetch keys. Never patient identifiers, resource content, URLs with queries, or tokens."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "cpt64640"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            # Type and frames only: exception messages can quote request content.
            entry["error"] = record.exc_info[0].__name__
            entry["frames"] = [
                f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}:{frame.name}"
                for frame in _frames(record.exc_info[2])
            ]
        return json.dumps(entry, default=str)


def _frames(tb: Any) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb))[-8:]


def configure(level: str) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields})
