"""gunicorn's logger for `cpt64640 serve` (its `logger_class`): gunicorn's own messages in the service's JSON
lines, and one `access` line per request answered.

gunicorn's messages keep only the values it chose itself: those of the templates below (its listening address,
worker class, signal names, the reason it stopped), and numbers (pids, exit codes) anywhere; any other value is
replaced by its type's name, since it may be the client's (a request path at debug level, an exception quoting
the request's bytes). The access line names the route as the app labelled it (web/app.py), never the path."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn import glogging

from ..logs import LOGGER_NAME, JsonFormatter, event
from ..web.app import REQUEST_ID_ENVIRON, ROUTE_ENVIRON

GUNICORN_OWN_VALUES = frozenset(
    {
        "Starting gunicorn %s",
        "Listening at: %s (%s)",
        "Listening at: %s",
        "Using worker: %s",
        "Handling signal: %s",
        "Unhandled signal: %s",
        "Shutting down: %s",
        "Reason: %s",
        "Hang up: %s",
        "Worker (pid:%s) was sent %s!",
        "Worker (pid:%s) was sent %s! Perhaps out of memory?",
        "Control socket listening at %s",
    }
)

# A method gunicorn accepts is any upper-case token: beyond HTTP's own, it is the client's word.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


class JsonLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter(GUNICORN_OWN_VALUES))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """Called by the worker once the response is sent (or the connection cut), with or without `accesslog`."""
        method = getattr(req, "method", None)
        event(
            logging.getLogger(LOGGER_NAME),
            "access",
            method=method if method in METHODS else "other",
            route=environ.get(ROUTE_ENVIRON, "other"),
            status=getattr(resp, "status_code", None),
            bytes=getattr(resp, "sent", 0),
            durationMs=round(request_time.total_seconds() * 1000, 1),
            requestId=environ.get(REQUEST_ID_ENVIRON),
        )
