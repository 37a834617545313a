"""security.jwks.fetch_jwks against real JWKS servers on loopback: the 5 s budget holds for the whole fetch
whatever the server drips or withholds, and nothing is left open or running afterwards (issue 12)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from cpt64640_cds.security.jwks import JWKS_MAX_BYTES, JWKS_TOTAL_SECONDS, JwksFetchError, fetch_jwks

from ...hostile_servers import MODES, HostileServer, fds_of, settles

MARGIN = 1.0  # seconds past the budget on a busy machine

JWKS = {"keys": [{"kty": "EC", "crv": "P-384", "kid": "k1", "x": "AA", "y": "AA"}]}


def test_a_jwk_set_is_fetched():
    with HostileServer("answer", answer=lambda _: json.dumps(JWKS).encode()) as server:
        assert fetch_jwks(server.base_url + "/jwks.json") == JWKS
        assert server.wait_closed(2.0) == 0  # the connection is not kept after the fetch


def test_an_oversized_jwk_set_is_refused():
    oversized = HostileServer("answer", answer=lambda _: b" " * (JWKS_MAX_BYTES + 1))
    with oversized as server, pytest.raises(JwksFetchError, match="larger than"):
        fetch_jwks(server.base_url + "/jwks.json")


@pytest.mark.parametrize("mode", MODES)
def test_a_dripping_or_hanging_jwks_url_fails_within_the_budget(mode):
    # One byte every 0.3 s: each read finishes well inside the 2 s read timeout, so only the total budget ends it.
    with HostileServer(mode, interval=0.3) as server:
        threads, fds = threading.active_count(), fds_of(os.getpid())
        started = time.monotonic()
        with pytest.raises(JwksFetchError) as failed:
            fetch_jwks(server.base_url + "/jwks.json")
        elapsed = time.monotonic() - started
        assert elapsed < JWKS_TOTAL_SECONDS + MARGIN
        assert str(failed.value) in ("slower than 5 s", "request failed (ReadTimeout)")
        assert server.wait_closed(2.0) == 0
        # + the process's one watchdog thread, at first use
        assert settles(1.0, lambda: threading.active_count() <= threads + 1 and fds_of(os.getpid()) <= fds)
