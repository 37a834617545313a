"""Trusted issuers: which CDS clients may call, with which keys, algorithms, tenants and FHIR servers.

Loaded from the CDS_TRUSTED_ISSUERS file (docs/security.md) and checked strictly: an unsafe algorithm, a
private or mismatched key, a non-https URL or an unknown field stops start-up with the issuer and field named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

# CDS Hooks 2.0 forbids `none` and every symmetric algorithm; ES384 and RS384 are the recommended pair.
ALLOWED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})

DEFAULT_ALGORITHMS = ("ES384", "RS384")

_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

_MIN_RSA_BITS = 2048

MAX_ID_CHARS = 256  # kid, jti, tenant: bounded so the replay cache and logs stay small

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


_LIST_FIELDS = ("jwks_urls", "algorithms", "tenants", "fhir_servers")


class TrustConfigError(ValueError):
    """The trusted-issuer configuration is malformed; the message names the issuer and the field."""


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
                problem = jwk_problem(key)
                if problem is None and not any(key_fits(key, alg) for alg in self.algorithms):
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
    "tenants": ["..."], "fhir_servers": ["https://..."]}}; `jwks` and/or `jwks_urls` required, `algorithms`
    defaults to ES384 + RS384, `tenants` and `fhir_servers` optional. Unknown fields are errors, so a typo
    cannot silently loosen a check.
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
        for name in _LIST_FIELDS:
            if name in entry and not isinstance(entry[name], list):
                raise TrustConfigError(f"{where}trusted issuer {iss!r}: {name}: must be a list")
        if "jwks" in entry and not isinstance(entry["jwks"], Mapping):
            raise TrustConfigError(f"{where}trusted issuer {iss!r}: jwks: must be a JWK Set object")
        # Every field of the entry is passed on: a key accepted here and then ignored would loosen a check.
        issuer = TrustedIssuer(
            jwks=entry.get("jwks"),
            jwks_urls=tuple(entry.get("jwks_urls", ())),
            algorithms=tuple(entry.get("algorithms", DEFAULT_ALGORITHMS)),
            tenants=tuple(entry["tenants"]) if "tenants" in entry else None,
            fhir_servers=tuple(entry["fhir_servers"]) if "fhir_servers" in entry else None,
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


def key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    """Whether the key may verify `alg`: its own `alg` (if any) agrees and the key type and curve match."""
    if jwk.get("alg") not in (None, alg):
        return False
    if alg in _EC_CURVES:
        return jwk.get("kty") == "EC" and jwk.get("crv") == _EC_CURVES[alg]
    return jwk.get("kty") == "RSA"


def jwk_problem(jwk: Any) -> str | None:
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
