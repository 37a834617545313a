"""The playground's development issuer: an ES384 key of the service's own, trusted in development mode only.

In development mode (CDS_AUTH=off) every caller is trusted; the playground may still sign the calls it sends, so
that the token checks run as they would in production. The private key is a JWK file in the data directory,
made on first use and shared by every worker: whichever worker writes it first wins (the file appears whole,
by a hard link of a finished temporary file), the others read it. The web layer trusts this issuer only when
CDS_AUTH=off, never alongside the configured issuers. Neither the key nor a token is ever logged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from .authenticator import MAX_TOKEN_CHARS
from .issuers import TrustedIssuer

DEV_ISSUER = "urn:cpt64640:playground"
KEY_FILE = "playground-es384.jwk"
ALGORITHM = "ES384"
SUBJECT = "playground"


@dataclass(frozen=True)
class DevIssuer:
    """Signs the playground's tokens. Safe to share between threads (it holds nothing that changes)."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DevIssuer:
        """The key of `state_dir`, made (mode 0600) when there is none yet. OSError when the directory cannot
        be written or read; ValueError when the file there is not a P-384 private JWK."""
        path = state_dir / KEY_FILE
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            _create(path)
        return cls.from_jwk(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_jwk(cls, jwk: Any) -> DevIssuer:
        try:
            key = ECAlgorithm.from_jwk(dict(jwk))
        except (jwt.PyJWTError, TypeError, ValueError):
            key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
            raise ValueError("not a P-384 private JWK")
        return cls(key, thumbprint(key.public_key()))

    def public_jwk(self) -> dict[str, Any]:
        jwk = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return jwk

    def trusted(self) -> dict[str, TrustedIssuer]:
        """This issuer's entry for an `Authenticator`: the public key inline, nothing fetched."""
        return {DEV_ISSUER: TrustedIssuer(jwks={"keys": [self.public_jwk()]}, algorithms=(ALGORITHM,))}

    def sign(self, audience: str, *, lifetime_s: int = 300) -> str:
        """A token for one call to `audience` (the exact URL called); its `jti` is accepted once."""
        now = int(time.time())
        claims = {
            "iss": DEV_ISSUER,
            "sub": SUBJECT,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})


def issued_by_playground(authorization_header: str | None) -> bool:
    """Whether the header carries a bearer token that *claims* to come from the development issuer. Nothing
    is verified here: it only tells which tokens development mode checks (the others it ignores)."""
    scheme, _, token = (authorization_header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    return isinstance(claims, dict) and claims.get("iss") == DEV_ISSUER


def thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256): a kid that stays the same for the same key."""
    jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    required = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(required.encode()).digest()).rstrip(b"=").decode()


def _create(path: Path) -> None:
    """Write a new key to a temporary file of our own, then link it to `path`: a worker that loses the race to
    another finds the winner's whole file there and keeps it."""
    jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()), as_dict=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(jwk, file)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another worker's key is there first: all use that one
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
