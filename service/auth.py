"""Who may call us: verification of the CDS Client's JWT (CDS Hooks 2.0 §Trusting CDS Clients, BP §JWT).

The client sends `Authorization: Bearer <jwt>`, signed with its private key. We trust a token only when:
- `alg` is asymmetric and on the issuer's list (never `none` or HS*: an HMAC "signed" with our copy of the
  public key is the classic algorithm-confusion forgery);
- `iss` is configured; the unverified payload is read only to pick that issuer's keys, nothing else is
  believed before the signature checks out;
- `kid` names one of the issuer's keys: inline, or from its configured JWKS URLs (cached per URL, refetched
  for an unknown `kid` at most once per refresh interval, so junk kids cannot hammer the JWKS server);
- a `jku` header is honoured only when it is one of the issuer's configured URLs; an attacker's `jku`
  would otherwise hand us the attacker's key, so an unlisted one is rejected and never fetched;
- `aud` contains the exact URL being called, `exp`/`iat` hold (with leeway) and the lifetime is at most an
  hour, `jti` is new, and `tenant` is allowlisted when the issuer has a list.
`sub` is not required: it was removed from the spec before 1.0.

Every failure is an `AuthError` whose `reason` is a short fixed string for logs and metrics; the web layer
answers 401 without detail (BP). The token itself is never logged, stored or put in an exception.
Framework-free: the web layer passes the header and the audience and maps `AuthError` to 401.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
import requests

# CDS Hooks 2.0 forbids `none` and every symmetric algorithm; ES384 and RS384 are the recommended pair.
ALLOWED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
DEFAULT_ALGORITHMS = ("ES384", "RS384")
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MIN_RSA_BITS = 2048

MAX_TOKEN_CHARS = 16 * 1024  # a CDS Hooks JWT is a few hundred bytes; anything huge is not one
MAX_ID_CHARS = 256  # kid, jti, tenant: bounded so the replay cache and logs stay small
JWKS_TIMEOUTS = (2.0, 2.0)  # connect, read (seconds)
JWKS_TOTAL_SECONDS = 5.0  # a slow drip of bytes must not hold a request thread past this
JWKS_MAX_BYTES = 256 * 1024

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS_URL = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
# The public half of the sandbox key (cds-hooks/sandbox jwt-generator.js; copy in
# tests/examples/cds-hooks/sandbox-jwks.json). Its private half is committed publicly.
_SANDBOX_JWK: dict[str, str] = {
    "kty": "EC",
    "use": "sig",
    "crv": "P-384",
    "kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
    "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
    "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
    "alg": "ES384",
}

# Child of the service logger (service/logs.py): same JSON lines. Only URLs from our own config and error
# types are logged here, never a token.
log = logging.getLogger("cpt64640.auth")


class AuthError(Exception):
    """The caller is not trusted. `reason` is a fixed short string (e.g. "signature"), never token content."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TrustConfigError(ValueError):
    """The trusted-issuer configuration is malformed; the message names the issuer and the field."""


class JwksFetchError(Exception):
    """A JWKS URL could not be read; the message is safe to log."""


@dataclass(frozen=True)
class Claims:
    """What a verified token tells us; `iss`, `tenant` and `jti` may be logged (BP), the token may not."""

    iss: str
    tenant: str | None
    jti: str
    exp: float


@dataclass(frozen=True)
class TrustedIssuer:
    """How to verify one `iss`: its keys (inline JWK Set and/or JWKS URLs), algorithms and tenants.

    Lists are stored as tuples. `tenants=None` means the issuer's tokens are accepted for any tenant.
    """

    jwks: Mapping[str, Any] | None = None
    jwks_urls: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    tenants: tuple[str, ...] | None = None
    # FHIR servers this client may send us to (URL prefixes); None: the global CDS_FHIR_ALLOWLIST alone.
    fhir_servers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("jwks_urls", "algorithms", "tenants", "fhir_servers"):
            value = getattr(self, name)
            if isinstance(value, list | set | frozenset):
                object.__setattr__(self, name, tuple(value))

    def check(self, iss: str) -> None:
        """Raise `TrustConfigError` naming `iss` and the field when this entry cannot be used safely."""

        def fail(field: str, problem: str) -> TrustConfigError:
            return TrustConfigError(f"trusted issuer {iss!r}: {field}: {problem}")

        if not isinstance(iss, str) or not iss.strip():
            raise TrustConfigError(f"trusted issuer {iss!r}: the issuer must be a non-empty string")
        if not _str_tuple(self.algorithms) or not self.algorithms:
            raise fail("algorithms", "must be a non-empty list of algorithm names")
        for alg in self.algorithms:
            if alg not in ALLOWED_ALGORITHMS:
                raise fail(
                    "algorithms",
                    f"{alg!r} is not allowed; CDS Hooks forbids none and symmetric (HS*) algorithms, "
                    f"use {', '.join(sorted(ALLOWED_ALGORITHMS))}",
                )
        if self.jwks is None and not self.jwks_urls:
            raise fail("jwks", "give an inline JWK Set (jwks) or at least one JWKS URL (jwks_urls)")
        if self.jwks is not None:
            keys = self.jwks.get("keys") if isinstance(self.jwks, Mapping) else None
            if not isinstance(keys, list) or not keys:
                raise fail("jwks", 'must be a JWK Set: {"keys": [...]} with at least one key')
            seen: set[str] = set()
            for position, key in enumerate(keys):
                problem = _jwk_problem(key)
                if problem is None and not any(_fits(key, alg) for alg in self.algorithms):
                    problem = f"fits none of the configured algorithms {list(self.algorithms)}"
                if problem is None and key["kid"] in seen:
                    problem = "kid is not unique in the set"
                if problem:
                    raise fail(f"jwks.keys[{position}]", problem)
                seen.add(key["kid"])
        if not _str_tuple(self.jwks_urls):
            raise fail("jwks_urls", "must be a list of URLs")
        for url in self.jwks_urls:
            problem = _url_problem(url)
            if problem:
                raise fail("jwks_urls", f"{url!r} {problem}")
        if len(set(self.jwks_urls)) != len(self.jwks_urls):
            raise fail("jwks_urls", "lists a URL twice")
        if self.tenants is not None and (
            not _str_tuple(self.tenants) or not self.tenants or not all(t for t in self.tenants)
        ):
            raise fail("tenants", "must be a non-empty list of tenant ids, or be left out to accept any tenant")
        if self.fhir_servers is not None:
            if not _str_tuple(self.fhir_servers) or not self.fhir_servers:
                raise fail("fhir_servers", "must be a non-empty list of URL prefixes, or be left out")
            for url in self.fhir_servers:
                problem = _url_problem(url)
                if problem:
                    raise fail("fhir_servers", f"{url!r} {problem}")


def load_trusted_issuers(source: str | Path | Mapping[str, Any]) -> dict[str, TrustedIssuer]:
    """Read the trusted-issuer configuration: a JSON file path, JSON text, or an already parsed mapping.

    Format: {"<iss>": {"jwks": {"keys": [...]}, "jwks_urls": ["https://..."], "algorithms": ["ES384"],
    "tenants": ["..."]}}; `jwks` and/or `jwks_urls` required, `algorithms` defaults to ES384 + RS384,
    `tenants` optional. Unknown fields are errors, so a typo cannot silently loosen a check.
    """
    where = ""
    if isinstance(source, Mapping):
        data: Any = source
    else:
        text = str(source)
        if isinstance(source, str) and text.lstrip().startswith("{"):
            where = "trusted issuers: "
        else:
            where = f"{source}: "
            try:
                text = Path(source).read_text(encoding="utf-8")
            except OSError as exc:
                raise TrustConfigError(f"{where}cannot be read ({exc.strerror or type(exc).__name__})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TrustConfigError(f"{where}not valid JSON ({exc})") from None
    if not isinstance(data, Mapping) or not data:
        raise TrustConfigError(f"{where}must be a JSON object with at least one issuer")

    known = {f.name for f in fields(TrustedIssuer)}
    issuers: dict[str, TrustedIssuer] = {}
    for iss, entry in data.items():
        if not isinstance(entry, Mapping):
            raise TrustConfigError(f"{where}trusted issuer {iss!r}: must be an object")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise TrustConfigError(f"{where}trusted issuer {iss!r}: {unknown[0]}: unknown field")
        for name in ("jwks_urls", "algorithms", "tenants"):
            if name in entry and not isinstance(entry[name], list):
                raise TrustConfigError(f"{where}trusted issuer {iss!r}: {name}: must be a list")
        issuer = TrustedIssuer(
            jwks=entry.get("jwks"),
            jwks_urls=tuple(entry.get("jwks_urls", ())),
            algorithms=tuple(entry.get("algorithms", DEFAULT_ALGORITHMS)),
            tenants=tuple(entry["tenants"]) if "tenants" in entry else None,
        )
        try:
            issuer.check(iss)
        except TrustConfigError as exc:
            raise TrustConfigError(f"{where}{exc}") from None
        issuers[iss] = issuer
    return issuers


def sandbox_preset() -> dict[str, TrustedIssuer]:
    """Trust the public CDS Hooks sandbox (https://sandbox.cds-hooks.org), for local development only.

    WARNING: the sandbox's private signing key is published in its source repository, so anyone can mint
    tokens this preset accepts. Never enable it in production. Its `jku` URL is listed because the sandbox
    sends it; the key itself is pinned inline, so the URL is fetched only for an unknown `kid`.
    """
    return {
        SANDBOX_ISSUER: TrustedIssuer(
            jwks={"keys": [dict(_SANDBOX_JWK)]}, jwks_urls=(SANDBOX_JWKS_URL,), algorithms=("ES384",)
        )
    }


class ReplayCache(Protocol):
    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        """True if (iss, jti) was seen before; otherwise remember it until `expires_at` and return False."""
        ...


class MemoryReplayCache:
    """Thread-safe, per-process replay cache. Entries leave once their token could no longer be accepted.

    With several worker processes a replay that lands on another worker is not caught; use a shared store
    (same `seen` protocol) where that matters.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, str, str]] = []  # (expires_at, iss, jti), soonest first

    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        with self._lock:
            self._evict(self._clock())
            if (iss, jti) in self._expiry:
                return True
            self._expiry[(iss, jti)] = expires_at
            heapq.heappush(self._heap, (expires_at, iss, jti))
            return False

    def __len__(self) -> int:
        with self._lock:
            self._evict(self._clock())
            return len(self._expiry)

    def _evict(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, iss, jti = heapq.heappop(self._heap)
            self._expiry.pop((iss, jti), None)


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """GET a JWK Set: short timeouts, no redirects (the URL is the allowlist), at most 256 KiB, 5 s overall."""
    started = time.monotonic()
    body = bytearray()
    try:
        with requests.get(
            url,
            headers={"Accept": "application/jwk-set+json, application/json"},
            timeout=JWKS_TIMEOUTS,
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > JWKS_MAX_BYTES:
                raise JwksFetchError(f"larger than {JWKS_MAX_BYTES} bytes")
            for chunk in response.iter_content(chunk_size=16 * 1024):
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise JwksFetchError(f"larger than {JWKS_MAX_BYTES} bytes")
                if time.monotonic() - started > JWKS_TOTAL_SECONDS:
                    raise JwksFetchError("too slow")
    except requests.RequestException as exc:
        raise JwksFetchError(f"request failed ({type(exc).__name__})") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise JwksFetchError("not JSON") from None
    if not isinstance(data, dict):
        raise JwksFetchError("not a JWK Set")
    return data


class _RemoteJwks:
    """Keys from one configured URL. `keys` is swapped whole, so readers need no lock."""

    def __init__(self, url: str):
        self.url = url
        self.keys: dict[str, dict[str, Any]] = {}
        self.attempted_at: float | None = None
        self.failed = False
        self.lock = threading.Lock()  # one fetch at a time per URL


class Authenticator:
    """Verifies CDS Client JWTs against the configured issuers. Safe to share between threads."""

    def __init__(
        self,
        issuers: Mapping[str, TrustedIssuer],
        *,
        leeway_seconds: float = 30,
        max_token_age_seconds: float = 3600,
        replay_cache: ReplayCache | None = None,
        fetch: Callable[[str], Mapping[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.time,
        refresh_interval_seconds: float = 60,
    ):
        for iss, issuer in issuers.items():
            issuer.check(iss)
        self._issuers = dict(issuers)
        self._leeway = leeway_seconds
        self._max_age = max_token_age_seconds
        self._clock = clock
        self._replay = replay_cache if replay_cache is not None else MemoryReplayCache(clock)
        self._fetch = fetch
        self._refresh_interval = refresh_interval_seconds
        self._inline = {
            iss: {key["kid"]: dict(key) for key in (issuer.jwks or {}).get("keys", [])}
            for iss, issuer in self._issuers.items()
        }
        self._remote = {url: _RemoteJwks(url) for issuer in self._issuers.values() for url in issuer.jwks_urls}

    @property
    def issuers(self) -> Mapping[str, TrustedIssuer]:
        return dict(self._issuers)

    def verify(self, authorization_header: str | None, audience: str | Sequence[str]) -> Claims:
        """Check the `Authorization` header of a call to `audience` (the exact URL, or the accepted URLs)."""
        audiences = [audience] if isinstance(audience, str) else list(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("audience must be the URL (or non-empty list of URLs) of the endpoint called")
        token = _bearer(authorization_header)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("malformed") from None

        alg = header.get("alg")
        # none and HS* end here, whatever an issuer's configuration says.
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthError("algorithm")
        if "typ" in header and str(header["typ"]).upper() != "JWT":
            raise AuthError("malformed")  # another kind of token from the same issuer is not a CDS Hooks JWT
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("unknown-issuer")
        if alg not in issuer.algorithms:
            raise AuthError("algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_ID_CHARS:
            raise AuthError("kid")
        if "jku" in header:
            if header["jku"] not in issuer.jwks_urls:
                raise AuthError("jku")
            urls: tuple[str, ...] = (header["jku"],)
        else:
            urls = issuer.jwks_urls

        raw_key = self._find_key(iss, kid, urls)
        if not _fits(raw_key, alg):
            raise AuthError("algorithm")
        try:
            key = jwt.PyJWK(raw_key, algorithm=alg)  # bound to the one algorithm we allowed for this token
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audiences,
                issuer=iss,
                # exp/iat/nbf are checked below, with the leeway, against the injectable clock that the
                # replay cache and JWKS refresh also use; PyJWT would read the wall clock.
                options={
                    "require": ["exp", "iat", "iss", "aud", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "enforce_minimum_key_length": True,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(_reason_for(exc)) from None

        now = self._clock()
        exp = _seconds(payload["exp"], "exp")
        iat = _seconds(payload["iat"], "iat")
        if exp <= now - self._leeway:
            raise AuthError("expired")
        if iat > now + self._leeway:
            raise AuthError("iat")
        if "nbf" in payload and _seconds(payload["nbf"], "not-yet-valid") > now + self._leeway:
            raise AuthError("not-yet-valid")
        if exp - iat > self._max_age or exp < iat:
            raise AuthError("lifetime")  # BP: no more than an hour; also bounds how long jtis are kept
        jti = payload["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_ID_CHARS:
            raise AuthError("jti")
        tenant = payload.get("tenant")
        if tenant is not None and (not isinstance(tenant, str) or len(tenant) > MAX_ID_CHARS):
            raise AuthError("tenant")
        if issuer.tenants is not None and tenant not in issuer.tenants:
            raise AuthError("tenant")
        # Last, so tokens failing any other check never occupy the cache.
        if self._replay.seen(jti, iss, exp + self._leeway):
            raise AuthError("replay")
        return Claims(iss=iss, tenant=tenant, jti=jti, exp=exp)

    def _find_key(self, iss: str, kid: str, urls: tuple[str, ...]) -> dict[str, Any]:
        inline = self._inline[iss].get(kid)
        if inline is not None:
            return inline
        for url in urls:  # cached keys first: a known kid never costs a fetch
            cached = self._remote[url].keys.get(kid)
            if cached is not None:
                return cached
        failed = False
        for url in urls:
            remote = self._remote[url]
            self._refresh(remote)
            failed = failed or remote.failed
            fresh = remote.keys.get(kid)
            if fresh is not None:
                return fresh
        raise AuthError("jwks-unavailable" if failed else "unknown-key")

    def _refresh(self, remote: _RemoteJwks) -> None:
        """Fetch the URL's keys unless that was tried within the refresh interval (first use always fetches)."""
        with remote.lock:
            now = self._clock()
            if remote.attempted_at is not None and abs(now - remote.attempted_at) < self._refresh_interval:
                return  # tried recently, perhaps by the thread we just waited for
            remote.attempted_at = now
            try:
                data = self._fetch(remote.url)
                keys = data.get("keys") if isinstance(data, Mapping) else None
                if not isinstance(keys, list):
                    raise JwksFetchError("not a JWK Set")
            except Exception as exc:  # any fetch failure: keep the keys we had, retry after the interval
                remote.failed = True
                log.warning(
                    "jwks fetch failed",
                    extra={"fields": {"url": remote.url, "problem": str(exc) or type(exc).__name__}},
                )
                return
            usable: dict[str, dict[str, Any]] = {}
            for key in keys:
                if _jwk_problem(key) is None:
                    usable.setdefault(key["kid"], dict(key))  # kid must be unique; on a clash the first wins
            remote.keys = usable
            remote.failed = False


def _bearer(header: str | None) -> str:
    if header is None or not header.strip():
        raise AuthError("missing")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("scheme")
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
        raise AuthError("malformed")
    return token


def _reason_for(exc: Exception) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "signature"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return {"aud": "audience", "iss": "unknown-issuer"}.get(exc.claim, exc.claim)  # exp, iat, jti
    if isinstance(exc, jwt.InvalidAudienceError):
        return "audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "unknown-issuer"
    if isinstance(exc, getattr(jwt.exceptions, "InvalidJTIError", ())):  # PyJWT >= 2.10 checks jti's type
        return "jti"
    if isinstance(exc, jwt.InvalidAlgorithmError | jwt.PyJWKError):
        return "algorithm"
    if isinstance(exc, jwt.InvalidKeyError):
        return "weak-key"
    return "malformed"


def _seconds(value: Any, reason: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(reason)
    return value


def _fits(jwk: Mapping[str, Any], alg: str) -> bool:
    """Whether the key may verify `alg`: its own `alg` (if any) agrees and the key type and curve match."""
    if jwk.get("alg") not in (None, alg):
        return False
    if alg in _EC_CURVES:
        return jwk.get("kty") == "EC" and jwk.get("crv") == _EC_CURVES[alg]
    return jwk.get("kty") == "RSA"


def _jwk_problem(jwk: Any) -> str | None:
    """Why a JWK cannot be a trusted verification key, or None."""
    if not isinstance(jwk, Mapping):
        return "must be a JWK object"
    if jwk.get("kty") not in ("EC", "RSA"):
        return "kty must be EC or RSA (symmetric and other key types are not accepted)"
    if "d" in jwk:
        return "contains private key material; configure the public key only"
    if not isinstance(jwk.get("kid"), str) or not jwk["kid"] or len(jwk["kid"]) > MAX_ID_CHARS:
        return "kid is required (the token's kid selects the key)"
    if jwk.get("use", "sig") != "sig":
        return "use must be sig"
    if "alg" in jwk and jwk["alg"] not in ALLOWED_ALGORITHMS:
        return f"alg {jwk['alg']!r} is not an allowed algorithm"
    try:
        parsed = jwt.PyJWK(dict(jwk))
    except (jwt.PyJWTError, ValueError, TypeError):
        return "is not a valid public key"
    if jwk["kty"] == "RSA" and parsed.key.key_size < _MIN_RSA_BITS:
        return f"RSA key shorter than {_MIN_RSA_BITS} bits"
    return None


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None  # local development and tests; CDS Hooks requires HTTPS everywhere else
    return "must be an https URL"


def _str_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
