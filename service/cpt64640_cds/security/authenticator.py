"""Who may call us: verification of the CDS Client's JWT (CDS Hooks 2.0 §Trusting CDS Clients, BP §JWT).

The client sends `Authorization: Bearer <jwt>`, signed with its private key. We trust a token only when:
- `alg` is asymmetric and on the issuer's list (never `none` or HS*: an HMAC "signed" with our copy of the
  public key is the classic algorithm-confusion forgery);
- `iss` is configured; the unverified payload is read only to pick that issuer's keys, nothing else is
  believed before the signature checks out;
- `kid` names one of the issuer's keys: inline, or from its configured JWKS URLs (cached per URL; an unknown
  `kid` refetches promptly after a successful fetch, at most once per `min_refetch_seconds`, and only once
  per `refresh_interval_seconds` after a failed one, so junk kids cannot hammer the JWKS server; a request
  never waits for another's fetch: while one runs, the others answer from the keys already cached);
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

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from .issuers import ALLOWED_ALGORITHMS, MAX_ID_CHARS, TrustedIssuer, jwk_problem, key_fits
from .jwks import JwksFetchError, RemoteJwks, fetch_jwks
from .replay_cache import MemoryReplayCache, ReplayCache

MAX_TOKEN_CHARS = 16 * 1024  # a CDS Hooks JWT is a few hundred bytes; anything huge is not one

# Child of the service logger (service/logs.py): same JSON lines. Only URLs from our own config and error
# types are logged here, never a token.
log = logging.getLogger("cpt64640.auth")


class AuthError(Exception):
    """The caller is not trusted. `reason` is a fixed short string (e.g. "signature"), never token content."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    """What a verified token tells us; `iss`, `tenant` and `jti` may be logged (BP), the token may not."""

    iss: str
    tenant: str | None
    jti: str
    exp: float


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
        min_refetch_seconds: float = 5,
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
        self._min_refetch = min_refetch_seconds
        self._inline = {
            iss: {key["kid"]: dict(key) for key in (issuer.jwks or {}).get("keys", [])}
            for iss, issuer in self._issuers.items()
        }
        self._remote = {url: RemoteJwks(url) for issuer in self._issuers.values() for url in issuer.jwks_urls}

    @property
    def issuers(self) -> Mapping[str, TrustedIssuer]:
        return dict(self._issuers)

    def verify(
        self, authorization_header: str | None, audience: str | Sequence[str], attempt: str | None = None
    ) -> Claims:
        """Check the `Authorization` header of a call to `audience` (the exact URL, or the accepted URLs).
        `attempt`: a trusted proxy's id of this client request (security/proxies.py), or None."""
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
        if not isinstance(iss, str) or iss not in self._issuers:
            raise AuthError("unknown-issuer")
        issuer = self._issuers[iss]
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
        if not key_fits(raw_key, alg):
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
        if self._replay.seen(jti, iss, exp + self._leeway, attempt):
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
        reason = "unknown-key"
        for url in urls:
            remote = self._remote[url]
            if not self._refresh(remote):
                reason = "jwks-pending"  # another request is fetching these keys; we don't wait for it
            elif remote.failed:
                reason = "jwks-unavailable"
            fresh = remote.keys.get(kid)
            if fresh is not None:
                return fresh
        raise AuthError(reason)

    def warm(self) -> None:
        """Fetch every configured JWKS URL once in the background, so the first calls find the keys cached.
        A failure here does not start the retry interval: the first real call tries again."""

        def fetch(remote: RemoteJwks) -> None:
            if self._refresh(remote) and remote.failed:
                remote.attempted_at = None

        for remote in self._remote.values():
            threading.Thread(target=fetch, args=(remote,), name="jwks-warm", daemon=True).start()

    def _refresh(self, remote: RemoteJwks) -> bool:
        """Fetch the URL's keys unless that was tried too recently: within `min_refetch_seconds` of a
        successful fetch, or `refresh_interval_seconds` of a failed one (first use always fetches).
        False when another thread is fetching them right now: this one does not wait."""
        if not remote.lock.acquire(blocking=False):
            return False
        try:
            now = self._clock()
            interval = self._refresh_interval if remote.failed else self._min_refetch
            if remote.attempted_at is not None and abs(now - remote.attempted_at) < interval:
                return True
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
                return True
            usable: dict[str, dict[str, Any]] = {}
            for key in keys:
                if jwk_problem(key) is None:
                    usable.setdefault(key["kid"], dict(key))  # kid must be unique; on a clash the first wins
            remote.keys = usable
            remote.failed = False
            return True
        finally:
            remote.lock.release()


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
