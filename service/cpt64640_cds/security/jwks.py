"""Keys published at an issuer's configured JWKS URLs: fetched with tight bounds, cached per URL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests

from ..protocol.prefetch.outbound import BoundedSession

JWKS_TIMEOUTS = (2.0, 2.0)  # connect, read (seconds): each socket operation

JWKS_TOTAL_SECONDS = 5.0  # the whole fetch: the sockets are cut then, whatever the server sends or withholds

JWKS_MAX_BYTES = 256 * 1024


class JwksFetchError(Exception):
    """A JWKS URL could not be read; the message is safe to log."""


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """GET a JWK Set: short timeouts, no redirects (the URL is the allowlist), at most 256 KiB, and an answer
    (or JwksFetchError) within 5 s however slowly the server drips its headers or body."""
    session = BoundedSession(until=time.monotonic() + JWKS_TOTAL_SECONDS)
    body = bytearray()
    try:
        with session.get(url, {"Accept": "application/jwk-set+json, application/json"}, JWKS_TIMEOUTS) as response:
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > JWKS_MAX_BYTES:
                raise JwksFetchError(f"larger than {JWKS_MAX_BYTES} bytes")
            for chunk in response.iter_content(chunk_size=16 * 1024):
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise JwksFetchError(f"larger than {JWKS_MAX_BYTES} bytes")
    except requests.RequestException as exc:
        if session.cut:
            raise JwksFetchError(f"slower than {JWKS_TOTAL_SECONDS:g} s") from None
        raise JwksFetchError(f"request failed ({type(exc).__name__})") from None
    finally:
        session.close()
    if session.cut:  # a body cut short can look complete when the server sent no length
        raise JwksFetchError(f"slower than {JWKS_TOTAL_SECONDS:g} s")
    try:
        data = json.loads(body)
    except ValueError:
        raise JwksFetchError("not JSON") from None
    if not isinstance(data, dict):
        raise JwksFetchError("not a JWK Set")
    return data


class RemoteJwks:
    """Keys from one configured URL. `keys` is swapped whole, so readers need no lock."""

    def __init__(self, url: str):
        self.url = url
        self.keys: dict[str, dict[str, Any]] = {}
        self.attempted_at: float | None = None
        self.failed = False
        self.lock = threading.Lock()  # one fetch at a time per URL
