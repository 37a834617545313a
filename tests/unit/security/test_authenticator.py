"""security.authenticator: client JWT verification with real keys, real signatures and a real JWKS server.

Tokens are signed with PyJWT, and JWK Sets served by `http.server` on 127.0.0.1 so that fetch counts (rate
limiting, an attacker's `jku`) are observed, not mocked. Time is the fake clock of conftest.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from cpt64640_cds.security.authenticator import Authenticator, AuthError, Claims
from cpt64640_cds.security.issuers import TrustedIssuer

from .tokens import AUD, DROP, ISS, Clock, bearer, claims, hs256, jwks, mint, public_jwk, reason

# --- a JWKS server on loopback -----------------------------------------------------------------------------


class JwksServer:
    """Serves JSON documents by path and counts requests per path."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, bytes, dict[str, str | None]]] = {}
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                status, body, headers = server.documents.get(self.path, (404, b"{}", {}))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    if value is None:  # None: leave the header out (HTTP/1.0 body ends at close)
                        continue
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, document: Any, status: int = 200, headers: dict[str, str | None] | None = None) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.documents[path] = (status, body, headers or {})
        return self.url(path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def start_server() -> Iterator[Callable[[], JwksServer]]:
    servers: list[JwksServer] = []

    def start() -> JwksServer:
        servers.append(JwksServer())
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def server(start_server: Callable[[], JwksServer]) -> JwksServer:
    return start_server()


# --- authenticators ----------------------------------------------------------------------------------------


@pytest.fixture
def inline_auth(ec_key, rsa_key, clock) -> Authenticator:
    issuer = TrustedIssuer(
        jwks=jwks(public_jwk(ec_key, "ec-1", "ES384"), public_jwk(rsa_key, "rsa-1")),
        algorithms=["ES384", "RS384"],
    )
    return Authenticator({ISS: issuer}, clock=clock)


def url_auth(url: str, clock: Clock, **kwargs: Any) -> Authenticator:
    return Authenticator({ISS: TrustedIssuer(jwks_urls=[url], algorithms=["ES384"])}, clock=clock, **kwargs)


# --- valid tokens ------------------------------------------------------------------------------------------


def test_valid_es384_token_returns_its_claims(inline_auth, ec_key, clock):
    payload = claims(clock, tenant="org-1")
    result = inline_auth.verify(bearer(mint(ec_key, "ec-1", payload)), AUD)
    assert result == Claims(iss=ISS, tenant="org-1", jti=payload["jti"], exp=payload["exp"])


def test_valid_rs384_token_passes_and_the_scheme_is_case_insensitive(inline_auth, rsa_key, clock):
    payload = claims(clock)
    result = inline_auth.verify("bearer " + mint(rsa_key, "rsa-1", payload, alg="RS384"), AUD)
    assert (result.iss, result.jti, result.tenant) == (ISS, payload["jti"], None)


def test_a_token_without_sub_is_accepted(inline_auth, ec_key, clock):
    payload = claims(clock)
    token = mint(ec_key, "ec-1", payload)
    assert "sub" not in jwt.decode(token, options={"verify_signature": False})
    assert inline_auth.verify(bearer(token), AUD).jti == payload["jti"]


# --- the header --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(inline_auth, header):
    assert reason(inline_auth, header) == "missing"


def test_not_bearer(inline_auth, ec_key, clock):
    token = mint(ec_key, "ec-1", claims(clock))
    assert reason(inline_auth, f"Basic {token}") == "scheme"
    assert reason(inline_auth, token) == "scheme"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer", "eyJhbGciOiJFUzM4NCJ9.e30", "x" * 20000])
def test_garbage_token(inline_auth, token):
    assert reason(inline_auth, bearer(token)) == "malformed"


# --- algorithms --------------------------------------------------------------------------------------------


def test_alg_none_is_rejected(inline_auth, clock):
    token = jwt.encode(claims(clock), None, algorithm="none", headers={"kid": "ec-1"})
    assert jwt.get_unverified_header(token)["alg"] == "none"
    assert reason(inline_auth, bearer(token)) == "algorithm"


def test_hs256_signed_with_the_public_key_is_rejected(inline_auth, rsa_key, clock):
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hs256({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(clock), public_pem)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    assert reason(inline_auth, bearer(token)) == "algorithm"


def test_alg_not_on_the_issuers_list_is_rejected_even_with_a_matching_key(rsa_key, clock):
    issuer = TrustedIssuer(jwks=jwks(public_jwk(rsa_key, "rsa-1")), algorithms=["RS384"])
    auth = Authenticator({ISS: issuer}, clock=clock)
    assert auth.verify(bearer(mint(rsa_key, "rsa-1", claims(clock), alg="RS384")), AUD).iss == ISS
    assert reason(auth, bearer(mint(rsa_key, "rsa-1", claims(clock), alg="RS256"))) == "algorithm"


def test_alg_that_does_not_fit_the_key_is_rejected(inline_auth, ec_key, rsa_key, clock):
    # kid of the RSA key, EC signature: the key type decides, not the header.
    assert reason(inline_auth, bearer(mint(ec_key, "rsa-1", claims(clock)))) == "algorithm"


# --- issuer and keys ---------------------------------------------------------------------------------------


def test_unknown_issuer(inline_auth, ec_key, clock):
    token = mint(ec_key, "ec-1", claims(clock, iss="https://evil.example.org"))
    assert reason(inline_auth, bearer(token)) == "unknown-issuer"


def test_missing_kid(inline_auth, ec_key, clock):
    token = jwt.encode(claims(clock), ec_key, algorithm="ES384")
    assert reason(inline_auth, bearer(token)) == "kid"


def test_unknown_kid_with_inline_jwks(inline_auth, ec_key, clock):
    assert reason(inline_auth, bearer(mint(ec_key, "nobody", claims(clock)))) == "unknown-key"


def test_signature_by_another_key_under_a_known_kid(inline_auth, attacker_key, clock):
    assert reason(inline_auth, bearer(mint(attacker_key, "ec-1", claims(clock)))) == "signature"


def test_kid_resolved_by_fetching_the_configured_jwks_url(server, ec_key, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "ec-1")))
    auth = url_auth(url, clock)
    assert server.hits["/jwks.json"] == 0  # nothing is fetched before it is needed
    assert auth.verify(bearer(mint(ec_key, "ec-1", claims(clock))), AUD).iss == ISS
    assert auth.verify(bearer(mint(ec_key, "ec-1", claims(clock))), AUD).iss == ISS
    assert server.hits["/jwks.json"] == 1  # cached


def test_key_rotation_needs_one_refetch(server, ec_key, ec_key2, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    auth = url_auth(url, clock)
    auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD)
    server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1"), public_jwk(ec_key2, "k2")))
    clock.advance(61)
    assert auth.verify(bearer(mint(ec_key2, "k2", claims(clock))), AUD).iss == ISS
    assert server.hits["/jwks.json"] == 2
    auth.verify(bearer(mint(ec_key2, "k2", claims(clock))), AUD)
    auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD)
    assert server.hits["/jwks.json"] == 2


def test_a_removed_key_is_no_longer_trusted_after_refresh(server, ec_key, ec_key2, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    auth = url_auth(url, clock)
    auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD)
    server.serve("/jwks.json", jwks(public_jwk(ec_key2, "k2")))
    clock.advance(61)
    auth.verify(bearer(mint(ec_key2, "k2", claims(clock))), AUD)
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "unknown-key"


def test_unknown_kid_flood_refetches_at_most_once_per_interval(server, ec_key, attacker_key, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    auth = url_auth(url, clock)
    auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD)
    assert server.hits["/jwks.json"] == 1
    clock.advance(61)
    tokens = [bearer(mint(attacker_key, f"junk-{i}", claims(clock))) for i in range(60)]

    def attempt(header: str) -> str:
        try:
            auth.verify(header, AUD)
        except AuthError as exc:
            return exc.reason
        return "accepted"

    with ThreadPoolExecutor(max_workers=12) as pool:
        reasons = list(pool.map(attempt, tokens))
    # Threads that arrive while the refetch runs do not wait for it ("jwks-pending").
    assert set(reasons) <= {"unknown-key", "jwks-pending"} and "unknown-key" in reasons
    assert server.hits["/jwks.json"] == 2  # one refetch for 60 unknown kids
    clock.advance(4)
    assert reason(auth, tokens[0]) == "unknown-key"
    assert server.hits["/jwks.json"] == 2
    clock.advance(1)
    assert reason(auth, tokens[1]) == "unknown-key"
    assert server.hits["/jwks.json"] == 3  # the next interval allows one more


def test_a_rotated_key_is_fetched_promptly_after_a_successful_fetch(server, ec_key, ec_key2, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    auth = url_auth(url, clock)
    auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD)
    server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1"), public_jwk(ec_key2, "k2")))
    clock.advance(5)  # not a minute: the last fetch worked, so an unknown kid may well be a new key
    assert auth.verify(bearer(mint(ec_key2, "k2", claims(clock))), AUD).iss == ISS
    assert server.hits["/jwks.json"] == 2


def test_after_a_failed_fetch_the_url_is_retried_only_after_the_refresh_interval(server, ec_key, clock):
    url = server.serve("/jwks.json", {"error": "down"}, status=503)
    auth = url_auth(url, clock)
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "jwks-unavailable"
    server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    clock.advance(30)
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "jwks-unavailable"
    assert server.hits["/jwks.json"] == 1
    clock.advance(31)
    assert auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD).iss == ISS
    assert server.hits["/jwks.json"] == 2


def test_no_request_waits_for_another_requests_fetch(ec_key, clock):
    started, release = threading.Event(), threading.Event()

    def slow_fetch(url: str) -> dict[str, Any]:
        started.set()
        release.wait(10)
        return jwks(public_jwk(ec_key, "k1"))

    auth = url_auth("https://ehr.example.org/jwks.json", clock, fetch=slow_fetch)
    first = threading.Thread(target=auth.verify, args=(bearer(mint(ec_key, "k1", claims(clock))), AUD))
    first.start()
    assert started.wait(5)
    begun = time.monotonic()
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "jwks-pending"
    assert time.monotonic() - begun < 1  # answered at once, not after the fetch
    release.set()
    first.join(5)
    assert auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD).iss == ISS


def test_warm_fetches_every_configured_url_in_the_background(server, ec_key, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    auth = url_auth(url, clock)
    auth.warm()
    deadline = time.monotonic() + 5
    while server.hits["/jwks.json"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.hits["/jwks.json"] == 1
    time.sleep(0.05)
    assert auth.verify(bearer(mint(ec_key, "k1", claims(clock))), AUD).iss == ISS
    assert server.hits["/jwks.json"] == 1


def test_jku_pointing_at_an_attacker_is_rejected_and_never_fetched(start_server, ec_key, attacker_key, clock):
    ours, theirs = start_server(), start_server()
    url = ours.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    evil = theirs.serve("/jwks.json", jwks(public_jwk(attacker_key, "k1")))
    auth = url_auth(url, clock)
    token = mint(attacker_key, "k1", claims(clock), jku=evil)
    assert reason(auth, bearer(token)) == "jku"
    assert theirs.hits["/jwks.json"] == 0
    assert ours.hits["/jwks.json"] == 0


def test_jku_equal_to_a_configured_url_is_accepted(server, ec_key, clock):
    url = server.serve("/jwks.json", jwks(public_jwk(ec_key, "k1")))
    auth = url_auth(url, clock)
    assert auth.verify(bearer(mint(ec_key, "k1", claims(clock), jku=url)), AUD).iss == ISS
    assert server.hits["/jwks.json"] == 1


def test_jku_with_only_inline_keys_is_rejected(inline_auth, ec_key, clock):
    token = mint(ec_key, "ec-1", claims(clock), jku="https://ehr.example.org/jwks.json")
    assert reason(inline_auth, bearer(token)) == "jku"


def test_unreachable_jwks_url(start_server, ec_key, clock):
    server = start_server()
    url = server.serve("/jwks.json", {"error": "down"}, status=503)
    auth = url_auth(url, clock)
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "jwks-unavailable"
    assert server.hits["/jwks.json"] == 1


def test_jwks_redirect_is_not_followed(server, ec_key, clock):
    target = server.serve("/real.json", jwks(public_jwk(ec_key, "k1")))
    url = server.serve("/jwks.json", b"", status=302, headers={"Location": target})
    auth = url_auth(url, clock)
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "jwks-unavailable"
    assert server.hits["/real.json"] == 0


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-content-length"])
def test_oversized_jwks_is_refused(server, ec_key, clock, declared):
    filler = [public_jwk(ec_key, f"pad-{i}-" + "x" * 200) for i in range(1000)]
    document = jwks(public_jwk(ec_key, "k1"), *filler)
    assert len(json.dumps(document)) > 256 * 1024
    url = server.serve("/jwks.json", document, headers=None if declared else {"Content-Length": None})
    auth = url_auth(url, clock)
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "jwks-unavailable"
    assert server.hits["/jwks.json"] == 1


# --- audience ----------------------------------------------------------------------------------------------


def test_wrong_audience(inline_auth, ec_key, clock):
    discovery = "https://cds.example.org/cds-services"
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", claims(clock, aud=discovery)))) == "audience"
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", claims(clock, aud=AUD + "/")))) == "audience"
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", claims(clock, aud=DROP)))) == "audience"


def test_audience_list_containing_the_url_is_accepted(inline_auth, ec_key, clock):
    token = mint(ec_key, "ec-1", claims(clock, aud=["https://other.example.org", AUD]))
    assert inline_auth.verify(bearer(token), AUD).iss == ISS
    token = mint(ec_key, "ec-1", claims(clock, aud=AUD))
    assert inline_auth.verify(bearer(token), ["https://cds.example.org/alias", AUD]).iss == ISS


# --- time --------------------------------------------------------------------------------------------------


def test_expired(inline_auth, ec_key, clock):
    payload = claims(clock, iat=int(clock.now) - 300, exp=int(clock.now) - 31)
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", payload))) == "expired"


def test_exp_within_leeway_is_accepted(inline_auth, ec_key, clock):
    payload = claims(clock, iat=int(clock.now) - 300, exp=int(clock.now) - 10)
    assert inline_auth.verify(bearer(mint(ec_key, "ec-1", payload)), AUD).exp == payload["exp"]


def test_missing_exp(inline_auth, ec_key, clock):
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", claims(clock, exp=DROP)))) == "exp"


def test_iat_in_the_future(inline_auth, ec_key, clock):
    payload = claims(clock, iat=int(clock.now) + 120, exp=int(clock.now) + 400)
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", payload))) == "iat"
    payload = claims(clock, iat=int(clock.now) + 20, exp=int(clock.now) + 300)
    assert inline_auth.verify(bearer(mint(ec_key, "ec-1", payload)), AUD).iss == ISS  # within leeway


def test_missing_iat(inline_auth, ec_key, clock):
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", claims(clock, iat=DROP)))) == "iat"


def test_nbf_in_the_future(inline_auth, ec_key, clock):
    payload = claims(clock, nbf=int(clock.now) + 120)
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", payload))) == "not-yet-valid"


def test_lifetime_over_max_age(inline_auth, ec_key, clock):
    payload = claims(clock, exp=int(clock.now) + 3601)
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", payload))) == "lifetime"
    payload = claims(clock, exp=int(clock.now) + 3600)
    assert inline_auth.verify(bearer(mint(ec_key, "ec-1", payload)), AUD).iss == ISS


# --- jti and replay ----------------------------------------------------------------------------------------


def test_missing_jti(inline_auth, ec_key, clock):
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", claims(clock, jti=DROP)))) == "jti"


def test_replayed_jti_is_rejected_and_a_new_one_accepted(inline_auth, ec_key, clock):
    header = bearer(mint(ec_key, "ec-1", claims(clock)))
    assert inline_auth.verify(header, AUD).iss == ISS
    assert reason(inline_auth, header) == "replay"
    assert inline_auth.verify(bearer(mint(ec_key, "ec-1", claims(clock))), AUD).iss == ISS


def test_a_rejected_token_does_not_burn_its_jti(inline_auth, ec_key, clock):
    payload = claims(clock)
    assert reason(inline_auth, bearer(mint(ec_key, "ec-1", payload)), "https://elsewhere.example.org") == "audience"
    assert inline_auth.verify(bearer(mint(ec_key, "ec-1", payload)), AUD).jti == payload["jti"]


# --- tenant ------------------------------------------------------------------------------------------------


def test_tenant_allowlist(ec_key, clock):
    issuer = TrustedIssuer(jwks=jwks(public_jwk(ec_key, "k1")), algorithms=["ES384"], tenants=["org-1"])
    auth = Authenticator({ISS: issuer}, clock=clock)
    assert auth.verify(bearer(mint(ec_key, "k1", claims(clock, tenant="org-1"))), AUD).tenant == "org-1"
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock, tenant="org-2")))) == "tenant"
    assert reason(auth, bearer(mint(ec_key, "k1", claims(clock)))) == "tenant"


# --- what failures reveal ----------------------------------------------------------------------------------


def test_the_reason_never_contains_the_token(inline_auth, ec_key, attacker_key, clock):
    tokens = [
        mint(ec_key, "ec-1", claims(clock, aud="https://elsewhere.example.org")),
        mint(ec_key, "ec-1", claims(clock, exp=int(clock.now) - 100, iat=int(clock.now) - 200)),
        mint(attacker_key, "ec-1", claims(clock)),
        mint(ec_key, "nobody", claims(clock)),
        mint(ec_key, "ec-1", claims(clock, iss="https://evil.example.org")),
        mint(ec_key, "ec-1", claims(clock, jti=DROP)),
        "not.a.jwt",
    ]
    seen = set()
    for token in tokens:
        with pytest.raises(AuthError) as info:
            inline_auth.verify(bearer(token), AUD)
        error = info.value
        seen.add(error.reason)
        assert error.reason.replace("-", "").isalpha() and len(error.reason) <= 20
        for text in (error.reason, str(error), repr(error)):
            assert token not in text
            assert token.split(".")[0] not in text  # not even the header part
        # No chained PyJWT exception either, so a logged traceback carries nothing about the token.
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert seen == {"audience", "expired", "signature", "unknown-key", "unknown-issuer", "jti", "malformed"}
