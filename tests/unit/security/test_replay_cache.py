"""security.replay_cache: a jti is seen once per issuer, and kept until its token could no longer be accepted."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from cpt64640_cds.security.authenticator import Authenticator, AuthError
from cpt64640_cds.security.issuers import TrustedIssuer
from cpt64640_cds.security.replay_cache import MemoryReplayCache, ReplayStoreUnavailable, SharedReplayCache

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


class _FailingStore:
    def __init__(self) -> None:
        self.calls = 0

    def seen(self, jti: str, iss: str, expires_at: float, attempt: str | None = None) -> bool:
        self.calls += 1
        raise OperationalError("select", {}, Exception("database is down"))


def test_a_failing_shared_store_fails_closed_by_default(clock):
    store = _FailingStore()
    cache = SharedReplayCache(store, "closed", logging.getLogger("test"), clock)
    with pytest.raises(ReplayStoreUnavailable):
        cache.seen("j1", ISS, clock.now + 60)
    assert store.calls == 1


def test_the_open_policy_falls_back_to_this_workers_memory(clock):
    cache = SharedReplayCache(_FailingStore(), "open", logging.getLogger("test"), clock)
    assert cache.seen("j1", ISS, clock.now + 60) is False
    assert cache.seen("j1", ISS, clock.now + 60) is True  # still caught within the worker


def test_a_working_shared_store_is_the_one_asked(clock):
    memory = MemoryReplayCache(clock)
    cache = SharedReplayCache(memory, "closed", logging.getLogger("test"), clock)
    assert cache.seen("j1", ISS, clock.now + 60) is False
    assert memory.seen("j1", ISS, clock.now + 60) is True


def test_the_same_proxy_attempt_is_not_a_replay_anything_else_is(clock):
    cache = MemoryReplayCache(clock)
    expiry = clock.now + 60
    assert cache.seen("j1", ISS, expiry, "attempt-1") is False
    assert cache.seen("j1", ISS, expiry, "attempt-1") is False  # the proxy tried the same client request again
    assert cache.seen("j1", ISS, expiry, "attempt-2") is True
    assert cache.seen("j1", ISS, expiry) is True
    assert cache.seen("j1", ISS, expiry, "") is True
    assert cache.seen("j2", ISS, expiry) is False  # recorded without an attempt: never taken for one
    assert cache.seen("j2", ISS, expiry, "attempt-1") is True
    assert cache.seen("j3", ISS, expiry, "") is False
    assert cache.seen("j3", ISS, expiry, "") is True  # an empty id is none


def test_the_authenticator_passes_the_attempt_on(ec_key, clock):
    cache = MemoryReplayCache(clock)
    auth = Authenticator({ISS: TrustedIssuer(jwks=jwks(public_jwk(ec_key, "k1")))}, clock=clock, replay_cache=cache)
    header = bearer(mint(ec_key, "k1", claims(clock)))
    assert auth.verify(header, AUD, "attempt-1").iss == ISS
    assert auth.verify(header, AUD, "attempt-1").iss == ISS
    with pytest.raises(AuthError, match="replay"):
        auth.verify(header, AUD, "attempt-2")


def test_the_open_policys_fallback_knows_attempts_too(clock):
    cache = SharedReplayCache(_FailingStore(), "open", logging.getLogger("test"), clock)
    assert cache.seen("j1", ISS, clock.now + 60, "attempt-1") is False
    assert cache.seen("j1", ISS, clock.now + 60, "attempt-1") is False
    assert cache.seen("j1", ISS, clock.now + 60, "attempt-2") is True
