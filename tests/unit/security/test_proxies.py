"""security.proxies and its use by the app: X-Proxy-Request-Id is the proxy's id of one client request, believed
only from a configured proxy's address and only in a request id's shape; otherwise the call has no attempt id and a
token seen again is a replay."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from cpt64640_cds.config import ConfigError
from cpt64640_cds.security.proxies import TrustedProxies
from cpt64640_cds.web.app import create_app

from .tokens import mint, public_jwk

BASE = "http://cds.example.org"
ISSUER = "https://ehr.example.org"
PROXY = "10.244.1.7"


def test_addresses_and_networks_are_trusted_and_nothing_else():
    proxies = TrustedProxies(["10.244.0.0/16", "192.0.2.1", "2001:db8::/32"])
    assert proxies.trusts("10.244.1.7") and proxies.trusts("192.0.2.1") and proxies.trusts("2001:db8::1")
    assert proxies.trusts("::ffff:10.244.3.4")  # a dual-stack listener's view of an IPv4 proxy
    assert not proxies.trusts("10.245.0.1") and not proxies.trusts("192.0.2.2")
    assert not proxies.trusts("") and not proxies.trusts(None)  # gunicorn's unix socket: the built-in front
    assert not TrustedProxies([]).trusts("127.0.0.1")
    assert TrustedProxies(["*"]).trusts("203.0.113.9") and not TrustedProxies(["*"]).trusts("")


def test_the_attempt_id_is_taken_in_a_request_ids_shape_only():
    proxies = TrustedProxies([PROXY])
    nginx_id = uuid.uuid4().hex
    assert proxies.attempt(PROXY, nginx_id) == nginx_id
    assert proxies.attempt(PROXY, "a" * 64) == "a" * 64
    assert proxies.attempt(PROXY, str(uuid.uuid4())) is not None  # hyphens too
    for bad in ("", "a" * 65, "abc def", "a_b", "é", "a\r\nb", "a,b"):
        assert proxies.attempt(PROXY, bad) is None, bad
    assert proxies.attempt("192.0.2.50", nginx_id) is None
    assert proxies.attempt(PROXY, None) is None


def test_an_entry_that_is_no_address_stops_the_app(tmp_path):
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["proxy.internal"])
    config = {"database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}", "auth": "off"}
    with pytest.raises(ConfigError, match="CDS_FORWARDED_ALLOW_IPS"):
        create_app({**config, "forwarded_allow_ips": ("10.0.0.300",)}, announce=False)


@pytest.fixture
def client(tmp_path, ec_key) -> Any:
    issuers = {ISSUER: {"jwks": {"keys": [public_jwk(ec_key, "k1")]}}}
    (tmp_path / "issuers.json").write_text(json.dumps(issuers))
    config = {
        "database_url": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "auth": "required",  # whatever the environment says (tests/e2e/conftest.py sets CDS_AUTH=off)
        "trusted_issuers": str(tmp_path / "issuers.json"),
        "public_base_urls": (BASE,),
        "forwarded_allow_ips": ("10.244.0.0/16",),
    }
    app = create_app(config, announce=False)
    yield app.test_client()
    app.extensions["cpt64640"].store.close()


def _token(ec_key: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return mint(ec_key, "k1", claims)


def _discovery(client: Any, token: str, peer: str, attempt: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} | ({"X-Proxy-Request-Id": attempt} if attempt else {})
    return client.get("/cds-services", headers=headers, environ_base={"REMOTE_ADDR": peer}).status_code


def test_the_proxy_trying_a_request_again_is_not_a_replay(client, ec_key):
    token, attempt = _token(ec_key), uuid.uuid4().hex
    assert _discovery(client, token, PROXY, attempt) == 200
    assert _discovery(client, token, "10.244.9.9", attempt) == 200  # the same request, through another proxy
    assert _discovery(client, token, PROXY, uuid.uuid4().hex) == 401  # another client request: a replay
    assert _discovery(client, token, PROXY, None) == 401


def test_the_header_from_a_peer_that_is_no_proxy_is_ignored(client, ec_key):
    token, attempt = _token(ec_key), uuid.uuid4().hex
    assert _discovery(client, token, "192.0.2.50", attempt) == 200  # recorded without an attempt id
    assert _discovery(client, token, "192.0.2.50", attempt) == 401
    assert _discovery(client, token, PROXY, attempt) == 401
    other, attempt = _token(ec_key), uuid.uuid4().hex
    assert _discovery(client, other, PROXY, attempt) == 200
    assert _discovery(client, other, "192.0.2.50", attempt) == 401  # the proxy's id, sent from elsewhere


def test_an_invalid_header_is_ignored(client, ec_key):
    for invalid in ("a" * 65, "not an id", "id;drop"):
        token = _token(ec_key)
        assert _discovery(client, token, PROXY, invalid) == 200
        assert _discovery(client, token, PROXY, invalid) == 401, invalid
