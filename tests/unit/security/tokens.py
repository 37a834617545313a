"""Tokens for the security unit tests: JWKs of generated keys, a fake clock, claims, and tokens minted with
PyJWT (or signed by hand where an attacker would not use PyJWT)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cpt64640_cds.security.authenticator import Authenticator, AuthError

ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/cpt64640-order-sign"
NOW = 1_700_000_000.0
DROP = object()  # marks a claim or header to leave out


def public_jwk(private_key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    codec = ECAlgorithm if isinstance(private_key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
    jwk = codec.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(keys)}


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def claims(clock: Clock, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "iat": int(clock.now),
        "exp": int(clock.now) + 300,
        "jti": str(uuid.uuid4()),
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not DROP}


def mint(key: Any, kid: str, payload: dict[str, Any], alg: str = "ES384", **headers: Any) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **headers})


def bearer(token: str) -> str:
    return f"Bearer {token}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """Hand-signed HMAC token: PyJWT refuses to use a PEM public key as an HMAC secret, an attacker would not."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def reason(auth: Authenticator, header: str | None, audience: str | list[str] = AUD) -> str:
    with pytest.raises(AuthError) as info:
        auth.verify(header, audience)
    return info.value.reason
