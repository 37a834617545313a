"""security.dev_issuer: the playground's key is made once, private to its owner, the same for every worker that
races to make it, and its tokens pass the authenticator that trusts it (and fail it once altered)."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cpt64640_cds.security.authenticator import Authenticator, AuthError
from cpt64640_cds.security.dev_issuer import DEV_ISSUER, KEY_FILE, DevIssuer, issued_by_playground

from .tokens import AUD, bearer, claims, mint


def test_the_key_is_made_once_readable_by_its_owner_only(tmp_path):
    state_dir = tmp_path / "not-yet-there"
    first = DevIssuer.load_or_create(state_dir)
    key_file = state_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in state_dir.iterdir()] == [KEY_FILE]  # no temporary file left behind
    written = key_file.read_bytes()
    again = DevIssuer.load_or_create(state_dir)
    assert key_file.read_bytes() == written and again.kid == first.kid
    assert "d" in json.loads(written) and "d" not in again.public_jwk()


def _make_key(state_dir: str, start: Any, kids: Any) -> None:
    start.wait()
    kids.put(DevIssuer.load_or_create(Path(state_dir)).kid)


def test_workers_racing_to_make_the_key_all_end_with_the_same_one(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, kids = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_make_key, args=(str(tmp_path), start, kids)) for _ in range(4)]
    for worker in workers:
        worker.start()
    made = [kids.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert len(set(made)) == 1 and made[0] == DevIssuer.load_or_create(tmp_path).kid
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[]",
        "not json",
        json.dumps(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)),  # P-256
        json.dumps(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)),
    ],
)
def test_a_file_that_is_no_p384_private_key_is_refused(tmp_path, text):
    (tmp_path / KEY_FILE).write_text(text)
    with pytest.raises(ValueError):  # not JSON, or not the key
        DevIssuer.load_or_create(tmp_path)


def test_its_tokens_pass_the_authenticator_that_trusts_it_once(tmp_path):
    issuer = DevIssuer.load_or_create(tmp_path)
    auth = Authenticator(issuer.trusted())
    token = issuer.sign(AUD)
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["typ"], header["kid"]) == ("ES384", "JWT", issuer.kid)
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "playground"
    verified = auth.verify(bearer(token), AUD)
    assert verified.iss == DEV_ISSUER
    with pytest.raises(AuthError, match="replay"):
        auth.verify(bearer(token), AUD)
    with pytest.raises(AuthError, match="audience"):
        auth.verify(bearer(issuer.sign(AUD)), AUD + "/feedback")


def test_an_altered_token_or_another_key_fails(tmp_path, attacker_key, clock):
    issuer = DevIssuer.load_or_create(tmp_path)
    auth = Authenticator(issuer.trusted())
    head, payload, signature = issuer.sign(AUD).split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(AuthError, match="signature"):
        auth.verify(bearer(f"{head}.{payload}.{flipped}"), AUD)
    other_payload = jwt.utils.base64url_encode(json.dumps({"iss": DEV_ISSUER, "aud": AUD}).encode()).decode()
    with pytest.raises(AuthError):
        auth.verify(bearer(f"{head}.{other_payload}.{signature}"), AUD)
    forged = mint(attacker_key, issuer.kid, claims(clock, iss=DEV_ISSUER))
    with pytest.raises(AuthError, match="signature"):
        auth.verify(bearer(forged), AUD)


def test_only_tokens_claiming_the_playground_are_picked_out(tmp_path, ec_key, clock):
    issuer = DevIssuer.load_or_create(tmp_path)
    assert issued_by_playground(bearer(issuer.sign(AUD)))
    assert issued_by_playground("bearer  " + issuer.sign(AUD))
    assert not issued_by_playground(bearer(mint(ec_key, "k1", claims(clock))))
    for header in (None, "", "Bearer", "Basic " + issuer.sign(AUD), "Bearer not.a.jwt", "Bearer " + "a" * 20000):
        assert not issued_by_playground(header), header
