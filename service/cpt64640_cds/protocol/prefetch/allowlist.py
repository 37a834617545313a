"""Where the client's bearer token may go: an allowlist of FHIR server URL prefixes.

A URL is compared segment by segment, both as written and as it will be sent (requests/urllib3 remove dot
segments and re-quote), and the two must agree. A path that could lead elsewhere once a client, proxy or server
normalises or decodes it is refused outright rather than normalised: dot segments (`.`, `..`, `...`), any
percent-encoding (`%2e`, `%2F`, `%5c`, `%252e`: FHIR base paths and ids never need one), `;` (path parameters,
`..;/`), `\\`, empty segments (`//`); and anywhere in the URL user info, a fragment, characters outside
printable ASCII, and a query on a base URL (`fhirServer`, an allowlist prefix). A `next` link may have a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.models import PreparedRequest

from ...config import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")

_PRINTABLE = re.compile(r"[!-~]+")
# RFC 3986 path characters without `%` (no encoding at all: FHIR ids and base paths never need one) and `;`.
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Place:
    """What the allowlist compares: scheme, lower-case host, port (default filled in) and the path's segments."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]

    def under(self, prefix: Place) -> bool:
        """Same origin, and the prefix's segments are the first of this path's (a segment boundary)."""
        return (self.scheme, self.host, self.port) == (prefix.scheme, prefix.host, prefix.port) and self.segments[
            : len(prefix.segments)
        ] == prefix.segments


def place(url: str, query: bool = False) -> Place | None:
    """Where `url` leads, or None when it is not a plain http(s) URL or any of its forms is refused (above).

    `query`: whether a query may follow the path (a `next` link), or not (a base URL such as `fhirServer`).
    """
    placed = place_and_wire(url, query)
    return placed[0] if placed else None


def place_and_wire(url: str, query: bool = False) -> tuple[Place, str] | None:
    """`place(url)` and the URL as it is sent (the form a client must put on the wire), or None when refused."""
    if not _PRINTABLE.fullmatch(url) or "\\" in url or "#" in url or (not query and "?" in url):
        return None
    written = _place(url)
    prepared = PreparedRequest()  # only its URL step: the rest of a request's preparation never changes the URL
    try:
        prepared.prepare_url(url, None)  # what urllib3 puts on the wire, dot segments removed
    except (requests.RequestException, ValueError):
        return None
    sent = prepared.url
    return (written, sent) if written is not None and sent is not None and _place(sent) == written else None


def _place(url: str) -> Place | None:
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port is None or "@" in parts.netloc:
        return None
    path = parts.path.removesuffix("/")
    segments = tuple(path.split("/")[1:]) if path else ()
    if (path and not path.startswith("/")) or not all(_plain(s) for s in segments):
        return None
    return Place(parts.scheme, parts.hostname.lower(), port, segments)


def _plain(segment: str) -> bool:
    """Plain segment text, which means itself whoever decodes or normalises it: not only dots, no `%`."""
    return bool(_SEGMENT.fullmatch(segment)) and bool(segment.strip("."))


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
        """May `url` be used as `fhirServer`: a base URL under a prefix (and under one of `bound_to`, the
        servers of the authenticated client's issuer, when given)."""
        target = place(url)
        if target is None:
            return False
        if bound_to is not None and not _under_any(target, bound_to):
            return False  # the authenticated client may only send us to its own servers
        if self.loopback and target.host in LOOPBACK:
            return True
        return _under_any(target, self.prefixes)


def _under_any(target: Place, prefixes: tuple[str, ...]) -> bool:
    return any(prefix is not None and target.under(prefix) for prefix in map(place, prefixes))
