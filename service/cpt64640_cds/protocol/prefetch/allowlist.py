"""Where the client's bearer token may go: an allowlist of FHIR server URL prefixes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...config import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class FhirAllowlist:
    """Where the client's bearer token may go: URL prefixes (scheme, host, port, path on a segment boundary).

    Anything else is never contacted, so a crafted `fhirServer` cannot make us call an internal address
    with the token (SSRF). In development mode with no list, loopback addresses are allowed.
    """

    prefixes: tuple[str, ...]
    loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FhirAllowlist:
        return cls(tuple(settings.fhir_allowlist), loopback=settings.development and not settings.fhir_allowlist)

    def allows(self, url: str, bound_to: tuple[str, ...] | None = None) -> bool:
        try:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
                return False
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return False
        if bound_to is not None and not any(_under(parts, p) for p in bound_to):
            return False  # the authenticated client may only send us to its own servers
        if self.loopback and parts.hostname in LOOPBACK:
            return True
        return any(_under(parts, prefix) for prefix in self.prefixes)


def _port(parts: Any) -> int | None:
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def _under(parts: Any, prefix: str) -> bool:
    try:
        allowed = urlsplit(prefix)
    except ValueError:
        return False
    return (
        parts.scheme == allowed.scheme
        and (parts.hostname or "").lower() == (allowed.hostname or "").lower()
        and _port(parts) == _port(allowed)
        and (parts.path.rstrip("/") + "/").startswith(allowed.path.rstrip("/") + "/")
    )
