"""gunicorn's threaded worker, answering the requests gunicorn itself rejects (a broken request line, an
oversized or malformed header, a bad Content-Length, broken chunked framing) like the app answers: a FHIR
OperationOutcome with the app's CORS headers, in our words. gunicorn's own page is HTML without CORS, and
quotes the client's bytes into the answer and the log. Such a request gets its id as the app's do (an
`X-Request-Id` header, `requestId` on its `invalid-request` line) but no access line: it never reached the app."""

from __future__ import annotations

import contextlib
import logging
import uuid
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from ..errors import Issue
from ..logs import LOGGER_NAME, event
from ..web.app import REQUEST_ID_HEADER
from ..web.http import FHIR_JSON, cors
from . import outcomes

# Most specific first: the response-header errors subclass the request ones, and are the app's fault.
_CLIENT_ERRORS: tuple[tuple[type[Exception], int, Issue | None], ...] = (
    (http_errors.InvalidResponseHeader, 500, outcomes.INTERNAL),
    (http_errors.InvalidResponseHeaderName, 500, outcomes.INTERNAL),
    (http_errors.LimitRequestLine, 414, outcomes.REQUEST_LINE_TOO_LONG),
    (http_errors.LimitRequestHeaders, 431, outcomes.HEADERS_TOO_LARGE),
    (http_errors.InvalidRequestLine, 400, outcomes.REQUEST_LINE),
    (http_errors.InvalidRequestMethod, 400, outcomes.REQUEST_LINE),
    (http_errors.InvalidHTTPVersion, 400, outcomes.REQUEST_LINE),
    (http_errors.InvalidHeader, 400, None),  # names the header when it is one we know
    (http_errors.InvalidHeaderName, 400, outcomes.HEADERS),
    (http_errors.ObsoleteFolding, 400, outcomes.HEADERS),
    (http_errors.InvalidSchemeHeaders, 400, outcomes.SCHEME_HEADERS),
    (http_errors.ExpectationFailed, 417, outcomes.EXPECT),
    (http_errors.UnsupportedTransferCoding, 400, outcomes.TRANSFER_CODING),
    (http_errors.InvalidChunkSize, 400, outcomes.BODY_FRAMING),
    (http_errors.ChunkMissingTerminator, 400, outcomes.BODY_FRAMING),
    (http_errors.InvalidChunkExtension, 400, outcomes.BODY_FRAMING),
    (http_errors.ParseException, 400, outcomes.REQUEST),  # PROXY protocol and HTTP/2 preface: not enabled
)


def classify(exc: BaseException) -> tuple[int, Issue]:
    """The status and issue for an exception gunicorn raised while reading or answering a request."""
    for kind, status, issue in _CLIENT_ERRORS:
        if isinstance(exc, kind):
            if issue is None:
                return status, outcomes.invalid_header(str(getattr(exc, "hdr", "")))
            return status, issue
    return 500, outcomes.INTERNAL


class OutcomeWorker(ThreadWorker):
    """gthread (a pool of threads per worker process) with gunicorn's error page replaced."""

    wsgi: Flask

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, issue = classify(exc)
        logger = logging.getLogger(LOGGER_NAME)
        request_id = uuid.uuid4().hex
        fields = {"requestId": request_id}
        if status >= 500:
            logger.error("server-error", exc_info=(type(exc), exc, exc.__traceback__), extra={"fields": fields})
        else:  # the exception's text quotes the client's bytes: its type is enough
            event(logger, "invalid-request", logging.WARNING, status=status, error=type(exc).__name__, **fields)
        with contextlib.suppress(OSError):  # the client is gone
            client.sendall(self.error_bytes(status, issue, _origin(req or getattr(exc, "req", None)), request_id))

    def error_bytes(self, status: int, issue: Issue, origin: str | None, request_id: str) -> bytes:
        body = outcomes.body(issue)
        # The app's own CORS policy, applied to an empty response in a request context carrying the Origin.
        with self.wsgi.test_request_context(headers={"Origin": origin} if origin else {}):
            headers = cors(Response()).headers
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Connection: close",
            f"Content-Type: {FHIR_JSON}",
            f"Content-Length: {len(body)}",
            f"{REQUEST_ID_HEADER}: {request_id}",
            *(f"{name}: {value}" for name, value in headers.items() if name.startswith(("Access-Control-", "Vary"))),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _origin(req: Any) -> str | None:
    """The request's Origin when gunicorn read that far; `cors` echoes it only when it is a configured one."""
    for name, value in getattr(req, "headers", None) or ():
        if name == "ORIGIN":
            return str(value)
    return None
