"""GETs against the client's FHIR server for one hook call: every socket cut at the call's deadline, every
byte counted against the call's one budget (`CDS_FHIR_MAX_CALL_BYTES`, all keys and pages together).

The access token lives only in one `FhirClient`; it is never logged, stored or put in an exception.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from urllib3 import BaseHTTPResponse, make_headers
from urllib3 import exceptions as http_errors

from ...config import Settings
from ..decoding import UNDECIDED, fast_loads
from .allowlist import place, place_and_wire
from .deadline import Deadline
from .outbound import BoundedSession

# Compressed answers are welcome (the encodings urllib3 can decode; the budget counts decoded bytes).
_HEADERS = {
    "Accept": "application/fhir+json, application/json",
    **make_headers(accept_encoding=True, user_agent="cpt64640-cds"),
}


class FetchError(Exception):
    """A FHIR call failed; the message is safe to log (no URL query, no body, no token)."""

    def __init__(self, message: str, issue_code: str = "exception"):
        super().__init__(message)
        self.issue_code = issue_code


class ByteBudget:
    """Bytes one hook call may read from the FHIR server, shared by the threads fetching its keys."""

    def __init__(self, limit: int):
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    def expect(self, size: int) -> None:
        """Fail before reading a body whose declared length would not fit."""
        with self._lock:
            if self._used + size > self.limit:
                raise self._exceeded()

    def take(self, size: int) -> None:
        with self._lock:
            self._used += size
            if self._used > self.limit:
                raise self._exceeded()

    def _exceeded(self) -> FetchError:
        return FetchError(f"response budget of {self.limit} bytes for this call exceeded", "too-costly")


class FhirClient:
    """GETs against one client FHIR server (an allowed base URL) until the deadline; `close()` when every
    fetch has returned."""

    def __init__(self, base: str, token: str | None, settings: Settings, deadline: Deadline):
        self.base = base.rstrip("/")
        self._place = place(self.base)
        self._token = token
        self._settings = settings
        self._deadline = deadline
        self._budget = ByteBudget(settings.fhir_max_call_bytes)
        self._session = BoundedSession(until=deadline.at)

    def close(self) -> None:
        self._session.close()

    def same_server(self, url: str) -> bool:
        """Is `url` (a `next` link, a query on the base) under the base URL, as sent and as written?"""
        return self._sent_form(url) is not None

    def _sent_form(self, url: str) -> str | None:
        """`url` as it goes on the wire when it is under the base URL, else None."""
        placed = place_and_wire(url, query=True)
        return placed[1] if placed and self._place is not None and placed[0].under(self._place) else None

    def get(self, url: str) -> tuple[int, dict[str, Any] | None]:
        sent = self._sent_form(url)
        if sent is None:
            raise FetchError("URL outside fhirServer; not contacted", "forbidden")
        remaining = self._deadline.remaining()
        if remaining <= 0:
            raise FetchError("deadline exceeded before the call", "timeout")
        headers = dict(_HEADERS)
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connect = min(self._settings.fhir_connect_timeout_ms / 1000, remaining)
        read = min(self._settings.fhir_read_timeout_ms / 1000, remaining)
        try:
            response = self._session.open(sent, headers, (connect, read))
            try:
                status = response.status
                body = self._read(response)
            except BaseException:
                response.close()  # a body not read to its end: the connection is not reused
                raise
            finally:
                response.release_conn()
        except (http_errors.HTTPError, OSError) as exc:
            if self._session.cut:
                raise FetchError("deadline exceeded while reading", "timeout") from None
            if isinstance(exc, http_errors.TimeoutError) and not isinstance(exc, http_errors.NewConnectionError):
                raise FetchError("timed out", "timeout") from None
            if isinstance(exc, http_errors.NewConnectionError | http_errors.ProtocolError | OSError):
                raise FetchError("connection failed") from None
            raise FetchError(f"request failed ({type(exc).__name__})") from None
        if self._session.cut:  # a body cut short can look complete when the server sent no length
            raise FetchError("deadline exceeded while reading", "timeout")
        if status in (404, 410):
            return status, None
        if status != 200:
            raise FetchError(f"HTTP {status}")
        try:
            data = fast_loads(body)
            if data is UNDECIDED:  # what orjson refuses or could read differently
                data = json.loads(body)
        except ValueError:
            raise FetchError("response is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError("response is not a FHIR resource")
        return status, data

    def _read(self, response: BaseHTTPResponse) -> bytearray:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit():
            self._budget.expect(int(declared))
        body = bytearray()
        for chunk in response.stream(64 * 1024):
            self._budget.take(len(chunk))
            body += chunk
        return body
