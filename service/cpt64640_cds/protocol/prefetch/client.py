"""GETs against the client's FHIR server for one hook call: every socket cut at the call's deadline, every
byte counted against the call's one budget (`CDS_FHIR_MAX_CALL_BYTES`, all keys and pages together).

The access token lives only in one `FhirClient`; it is never logged, stored or put in an exception.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from ...config import Settings
from .allowlist import place
from .deadline import Deadline
from .outbound import BoundedSession


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
        target = place(url, query=True)
        return target is not None and self._place is not None and target.under(self._place)

    def get(self, url: str) -> tuple[int, dict[str, Any] | None]:
        if not self.same_server(url):
            raise FetchError("URL outside fhirServer; not contacted", "forbidden")
        remaining = self._deadline.remaining()
        if remaining <= 0:
            raise FetchError("deadline exceeded before the call", "timeout")
        headers = {"Accept": "application/fhir+json, application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connect = min(self._settings.fhir_connect_timeout_ms / 1000, remaining)
        read = min(self._settings.fhir_read_timeout_ms / 1000, remaining)
        try:
            with self._session.get(url, headers, (connect, read)) as response:
                status = response.status_code
                body = self._read(response)
        except requests.RequestException as exc:
            if self._session.cut:
                raise FetchError("deadline exceeded while reading", "timeout") from None
            if isinstance(exc, requests.Timeout):
                raise FetchError("timed out", "timeout") from None
            if isinstance(exc, requests.ConnectionError):
                raise FetchError("connection failed") from None
            raise FetchError(f"request failed ({type(exc).__name__})") from None
        if self._session.cut:  # a body cut short can look complete when the server sent no length
            raise FetchError("deadline exceeded while reading", "timeout")
        if status in (404, 410):
            return status, None
        if status != 200:
            raise FetchError(f"HTTP {status}")
        try:
            data = json.loads(body)
        except ValueError:
            raise FetchError("response is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError("response is not a FHIR resource")
        return status, data

    def _read(self, response: requests.Response) -> bytearray:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit():
            self._budget.expect(int(declared))
        body = bytearray()
        for chunk in response.iter_content(chunk_size=64 * 1024):
            self._budget.take(len(chunk))
            body += chunk
        return body
