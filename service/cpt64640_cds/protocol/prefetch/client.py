"""GETs against the client's FHIR server, streamed so that size and deadline hold mid-body.

The access token lives only in one `FhirClient`; it is never logged, stored or put in an exception.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests

from ...config import Settings
from .deadline import Deadline


class FetchError(Exception):
    """A FHIR call failed; the message is safe to log (no URL query, no body, no token)."""

    def __init__(self, message: str, issue_code: str = "exception"):
        super().__init__(message)
        self.issue_code = issue_code


class FhirClient:
    """GETs against one client FHIR server, streamed so that size and deadline hold mid-body."""

    def __init__(self, base: str, token: str | None, settings: Settings, deadline: Deadline):
        self.base = base.rstrip("/")
        self._origin = urlsplit(self.base)
        self._token = token
        self._settings = settings
        self._deadline = deadline
        self._session = requests.Session()
        self._session.trust_env = False  # never route PHI through proxies picked up from the environment

    def close(self) -> None:
        self._session.close()

    def same_server(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        return (
            parts.scheme == self._origin.scheme
            and parts.netloc == self._origin.netloc
            and (parts.path + "/").startswith(self._origin.path.rstrip("/") + "/")
        )

    def get(self, url: str) -> tuple[int, dict[str, Any] | None]:
        remaining = self._deadline.remaining()
        if remaining <= 0:
            raise FetchError("deadline exceeded before the call", "timeout")
        headers = {"Accept": "application/fhir+json, application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connect = min(self._settings.fhir_connect_timeout_ms / 1000, remaining)
        read = min(self._settings.fhir_read_timeout_ms / 1000, remaining)
        try:
            with self._session.get(
                url, headers=headers, timeout=(connect, read), stream=True, allow_redirects=False
            ) as response:
                body = self._read(response)
                status = response.status_code
        except requests.Timeout:
            raise FetchError("timed out", "timeout") from None
        except requests.ConnectionError:
            raise FetchError("connection failed") from None
        except requests.RequestException as exc:
            raise FetchError(f"request failed ({type(exc).__name__})") from None
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

    def _read(self, response: requests.Response) -> bytes:
        limit = self._settings.fhir_max_call_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"response larger than {limit} bytes")
            if self._deadline.remaining() <= 0:
                raise FetchError("deadline exceeded while reading", "timeout")
            chunks.append(chunk)
        return b"".join(chunks)
