"""security.issuers: the trusted-issuer configuration (files, JSON, code) and the CDS Hooks sandbox preset."""

from __future__ import annotations

import dataclasses
import json

import pytest
from jwt.algorithms import ECAlgorithm

from cpt64640_cds.security.authenticator import Authenticator
from cpt64640_cds.security.issuers import (
    SANDBOX_ISSUER,
    TrustConfigError,
    TrustedIssuer,
    load_trusted_issuers,
    sandbox_preset,
)

from ...conftest import EXAMPLES
from .tokens import ISS, bearer, claims, hs256, jwks, mint, public_jwk, reason

# --- sandbox preset ----------------------------------------------------------------------------------------


def test_sandbox_preset_is_es384_only_and_pins_the_published_key(clock, attacker_key):
    preset = sandbox_preset()
    assert list(preset) == [SANDBOX_ISSUER]
    issuer = preset[SANDBOX_ISSUER]
    assert issuer.algorithms == ("ES384",)
    published = json.loads((EXAMPLES / "sandbox-jwks.json").read_text(encoding="utf-8"))
    assert issuer.jwks == published

    auth = Authenticator(preset, clock=clock, fetch=lambda url: pytest.fail(f"fetched {url}"))
    kid = published["keys"][0]["kid"]
    payload = claims(clock, iss=SANDBOX_ISSUER)
    hs_token = hs256({"alg": "HS256", "typ": "JWT", "kid": kid}, payload, b"secret")
    assert reason(auth, bearer(hs_token)) == "algorithm"
    # The sandbox's header shape, but signed by a key that is not the sandbox's: the pinned key decides.
    forged = mint(attacker_key, kid, payload, jku="https://sandbox.cds-hooks.org/.well-known/jwks.json")
    assert reason(auth, bearer(forged)) == "signature"


# --- configuration -----------------------------------------------------------------------------------------


def test_load_trusted_issuers_from_a_file(tmp_path, ec_key):
    path = tmp_path / "issuers.json"
    config = {
        ISS: {"jwks": jwks(public_jwk(ec_key, "k1")), "algorithms": ["ES384"], "tenants": ["org-1"]},
        "https://other.example.org": {"jwks_urls": ["https://other.example.org/jwks.json"]},
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    issuers = load_trusted_issuers(path)
    assert issuers[ISS].algorithms == ("ES384",) and issuers[ISS].tenants == ("org-1",)
    assert issuers["https://other.example.org"].algorithms == ("ES384", "RS384")
    assert issuers[ISS].fhir_servers is None
    assert load_trusted_issuers(str(path)) == issuers
    assert load_trusted_issuers(json.dumps(config)) == issuers


def test_every_field_of_an_issuer_is_passed_on(ec_key):
    # Each field the loader accepts must reach the TrustedIssuer: one accepted and dropped would loosen a check.
    entry = {
        "jwks": jwks(public_jwk(ec_key, "k1")),
        "jwks_urls": ["https://ehr.example.org/jwks.json"],
        "algorithms": ["ES384"],
        "tenants": ["org-1"],
        "fhir_servers": ["https://ehr.example.org/fhir"],
    }
    assert set(entry) == {f.name for f in dataclasses.fields(TrustedIssuer)}
    issuer = load_trusted_issuers({ISS: entry})[ISS]
    for name, value in entry.items():
        loaded = getattr(issuer, name)
        assert (loaded if name == "jwks" else list(loaded)) == value, name


def test_load_trusted_issuers_rejects_hs256_and_names_the_issuer(tmp_path, ec_key):
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({ISS: {"jwks": jwks(public_jwk(ec_key, "k1")), "algorithms": ["HS256"]}}))
    with pytest.raises(ValueError) as info:
        load_trusted_issuers(path)
    assert isinstance(info.value, TrustConfigError)
    message = str(info.value)
    assert ISS in message and "algorithms" in message and "HS256" in message and str(path) in message


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"algorithms": ["ES384"]}, "jwks"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "algorithms": ["none"]}, "algorithms"),
        ({"jwks_urls": ["http://x.example.org/jwks"]}, "jwks_urls"),
        ({"jwks_urls": "https://x.example.org/jwks"}, "jwks_urls"),
        ({"jwks_url": ["https://x.example.org/jwks"]}, "jwks_url"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}}, "jwks.keys[0]"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "tenants": []}, "tenants"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "fhir_servers": "https://fhir.example.org"}, "fhir_servers"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "fhir_servers": []}, "fhir_servers"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "fhir_servers": ["http://fhir.example.org"]}, "fhir_servers"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "fhir_servers": [7]}, "fhir_servers"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "fhir_server": ["https://f.example.org"]}, "fhir_server"),
        ({"jwks_urls": ["https://x.example.org/jwks"], "Tenants": ["org-1"]}, "Tenants"),
        ({"jwks": [], "jwks_urls": ["https://x.example.org/jwks"]}, "jwks"),
    ],
)
def test_load_trusted_issuers_names_the_bad_field(entry, field):
    with pytest.raises(TrustConfigError) as info:
        load_trusted_issuers({ISS: entry})
    assert f"{ISS!r}: {field}:" in str(info.value)


def test_private_keys_and_mismatched_keys_are_refused_in_config(ec_key, rsa_key):
    private = ECAlgorithm.to_jwk(ec_key, as_dict=True) | {"kid": "k1"}
    with pytest.raises(TrustConfigError, match="private key"):
        load_trusted_issuers({ISS: {"jwks": jwks(private)}})
    with pytest.raises(TrustConfigError, match="fits none of the configured algorithms"):
        load_trusted_issuers({ISS: {"jwks": jwks(public_jwk(rsa_key, "r1")), "algorithms": ["ES384"]}})


def test_authenticator_checks_issuers_built_in_code(ec_key):
    issuer = TrustedIssuer(jwks=jwks(public_jwk(ec_key, "k1")), algorithms=["ES384", "HS256"])
    with pytest.raises(TrustConfigError, match="HS256"):
        Authenticator({ISS: issuer})
