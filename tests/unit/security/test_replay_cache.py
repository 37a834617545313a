"""security.replay_cache: a jti is seen once per issuer, and kept until its token could no longer be accepted."""

from __future__ import annotations

from cpt64640_cds.security.authenticator import Authenticator
from cpt64640_cds.security.issuers import TrustedIssuer
from cpt64640_cds.security.replay_cache import MemoryReplayCache

from .tokens import AUD, ISS, bearer, claims, jwks, mint, public_jwk, reason


def test_memory_replay_cache_forgets_after_expiry(clock):
    cache = MemoryReplayCache(clock)
    assert cache.seen("j1", ISS, clock.now + 60) is False
    assert cache.seen("j1", ISS, clock.now + 60) is True
    assert cache.seen("j1", "https://other.example.org", clock.now + 60) is False  # per issuer
    assert len(cache) == 2
    clock.advance(61)
    assert len(cache) == 0
    assert cache.seen("j1", ISS, clock.now + 60) is False


def test_replay_cache_keeps_the_jti_until_exp_plus_leeway(ec_key, clock):
    cache = MemoryReplayCache(clock)
    auth = Authenticator({ISS: TrustedIssuer(jwks=jwks(public_jwk(ec_key, "k1")))}, clock=clock, replay_cache=cache)
    payload = claims(clock, exp=int(clock.now) + 60)
    header = bearer(mint(ec_key, "k1", payload))
    auth.verify(header, AUD)
    clock.advance(60 + 29)
    assert reason(auth, header) == "replay"
    clock.advance(2)
    assert reason(auth, header) == "expired"
    assert len(cache) == 0
