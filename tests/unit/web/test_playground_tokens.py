"""The playground's development issuer in the app: in development mode its tokens are checked as in production
(a replay, another key or another audience is 401) and every other caller is trusted as before; with
CDS_AUTH=required it is never trusted."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cpt64640_cds.security.dev_issuer import DEV_ISSUER, KEY_FILE, DevIssuer
from cpt64640_cds.web.app import create_app

from ...conftest import REQUESTS, SIGN, load

BASE = "http://cds.example.org"
SANDBOX = "https://sandbox.cds-hooks.org"


@pytest.fixture
def body() -> dict[str, Any]:
    return load(REQUESTS / "order-sign-lfcn-left-prefetched.json")


def _app(tmp_path: Any, **config: Any) -> Any:
    settings = {"database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}", "data_dir": str(tmp_path), "auth": "off"}
    return create_app({**settings, **config}, announce=False)


@pytest.fixture
def development(tmp_path) -> Iterator[Any]:
    app = _app(tmp_path)
    yield app
    app.extensions["cpt64640"].store.close()


def _call(app: Any, body: dict[str, Any], token: str | None, base: str = "http://localhost") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().post(f"/cds-services/{SIGN}", json=body, headers=headers, base_url=base).status_code


def _foreign(iss: str, kid: str, audience: str) -> str:
    """A token of another ES384 key, claiming `iss`."""
    now = int(time.time())
    claims = {"iss": iss, "aud": audience, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, ec.generate_private_key(ec.SECP384R1()), algorithm="ES384", headers={"kid": kid})


def test_a_playground_token_is_checked_in_development_mode(development, tmp_path, body):
    issuer = development.extensions["cpt64640"].dev_issuer
    assert (tmp_path / KEY_FILE).is_file() and issuer.kid == DevIssuer.load_or_create(tmp_path).kid
    audience = f"http://localhost/cds-services/{SIGN}"
    token = issuer.sign(audience)
    assert _call(development, body, token) == 200
    assert _call(development, body, token) == 401  # replayed
    assert _call(development, body, issuer.sign(audience), base="http://elsewhere.example") == 401  # audience
    assert _call(development, body, _foreign(DEV_ISSUER, issuer.kid, audience)) == 401
    assert _call(development, body, issuer.sign(audience, lifetime_s=-120)) == 401  # expired


def test_development_mode_still_trusts_every_other_caller(development, body):
    audience = f"http://localhost/cds-services/{SIGN}"
    assert _call(development, body, None) == 200
    sandbox = _foreign(SANDBOX, "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", audience)
    assert _call(development, body, sandbox) == 200
    assert _call(development, body, sandbox) == 200  # not checked, so not a replay either
    assert _call(development, body, "not-a-jwt") == 200


def test_development_mode_takes_the_configured_base_url_for_the_audience(tmp_path, body):
    app = _app(tmp_path, public_base_urls=(BASE,))
    issuer = app.extensions["cpt64640"].dev_issuer
    assert _call(app, body, issuer.sign(f"http://localhost/cds-services/{SIGN}")) == 401
    assert _call(app, body, issuer.sign(f"{BASE}/cds-services/{SIGN}")) == 200
    app.extensions["cpt64640"].store.close()


def test_without_a_key_development_mode_trusts_every_caller(tmp_path, body):
    (tmp_path / KEY_FILE).write_text("{}")  # not a key: the app starts, the playground cannot sign
    app = _app(tmp_path)
    environment = app.extensions["cpt64640"]
    assert environment.dev_issuer is None and environment.authenticator is None
    forged = _foreign(DEV_ISSUER, "k1", f"http://localhost/cds-services/{SIGN}")
    assert _call(app, body, forged) == 200
    environment.store.close()


def test_the_playground_issuer_is_never_trusted_when_authentication_is_required(tmp_path, body):
    kid = DevIssuer.load_or_create(tmp_path).kid
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    ehr = jwt.algorithms.ECAlgorithm.to_jwk(other, as_dict=True) | {"kid": "k1", "use": "sig"}
    (tmp_path / "issuers.json").write_text(json.dumps({"https://ehr.example.org": {"jwks": {"keys": [ehr]}}}))
    app = _app(tmp_path, auth="required", trusted_issuers=str(tmp_path / "issuers.json"), public_base_urls=(BASE,))
    environment = app.extensions["cpt64640"]
    assert environment.dev_issuer is None and DEV_ISSUER not in environment.authenticator.issuers
    token = DevIssuer.load_or_create(tmp_path).sign(f"{BASE}/cds-services/{SIGN}")
    assert jwt.get_unverified_header(token)["kid"] == kid
    assert _call(app, body, token, base=BASE) == 401
    assert _call(app, body, None, base=BASE) == 401
    environment.store.close()
