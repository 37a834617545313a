"""Outbound HTTP whose sockets never outlive a deadline: the client's FHIR server, an issuer's JWKS URL.

requests' timeouts bound each socket operation, not an exchange: a server that sends a byte a second (of the
headers or of the body) never trips a read timeout, and urllib3 2.x's `read(64 KiB)` waits for the whole 64 KiB,
so a check between chunks never runs either. A `BoundedSession` therefore knows every socket it opens, and one
watchdog thread per process shuts them down (`SHUT_RDWR`) at the session's deadline: whatever thread is blocked
in a connect, a TLS handshake, a header or a body read returns at once with an error, and its connection is
closed by the code that owns it. No retries, no redirects, no proxies from the environment.

The FHIR client sends through urllib3 directly (`open`): requests' per-call layers (settings merge, cookie jars,
hooks, a second URL preparation) cost about a millisecond of CPU per GET, which with ten keys fetched at once
delays the requests sent last. `get` (a requests response) serves the JWKS reader.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError


class BoundedSession:
    """A requests session for one exchange (a hook call's fetches, one JWKS read), cut at `until`.

    Cutting is a `shutdown()` of a duplicate of each socket: it wakes every reader and writer of that
    connection, and the duplicate is the only descriptor we close ourselves, so a cut never races with a
    thread closing (and the process reusing) the descriptor it is reading from.
    """

    def __init__(self, until: float):
        self.until = until  # time.monotonic()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cut = False
        self._closed = False
        # requests' pool sizes: up to 10 connections per server kept for reuse (the next page of a key).
        self._pools = PoolManager(num_pools=10, maxsize=10)
        self._pools.pool_classes_by_scheme = _tracked_pools(self._track)
        self._session: requests.Session | None = None  # made by the first `get`
        _WATCHDOG.watch(self)

    @property
    def cut(self) -> bool:
        """True once the deadline cut this session's sockets: what was read since may be incomplete."""
        return self._cut

    def get(self, url: str, headers: dict[str, str], timeout: tuple[float, float]) -> requests.Response:
        """A streamed GET; the caller reads the body and closes the response (`with`)."""
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # never route through proxies picked up from the environment
            adapter = _TrackingAdapter(self._track)
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)
        return self._session.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False)

    def open(self, url: str, headers: dict[str, str], timeout: tuple[float, float]) -> BaseHTTPResponse:
        """A streamed GET of `url` exactly as given (already in its sent form), content decoded; urllib3's
        exceptions as they are (no retries). The caller reads the body, then `release_conn()`s the response,
        or `close()`s it when it stops early."""
        return self._pools.urlopen(
            "GET",
            url,
            headers=headers,
            timeout=Timeout(connect=timeout[0], read=timeout[1]),
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=True,
        )

    def _cut_sockets(self) -> None:
        with self._lock:
            self._cut = self._cut or not self._closed
            sockets, self._sockets = self._sockets, []
        _shut(sockets)

    def close(self) -> None:
        """Close the connections left in the pool and the socket duplicates; later connects fail."""
        self._pools.clear()
        if self._session is not None:
            self._session.close()
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        _shut(sockets)

    def _track(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            if not self._cut and not self._closed:
                self._sockets.append(duplicate)
                return
        _shut([duplicate])
        raise OSError("connection opened after the deadline")


def _shut(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):  # the peer may have closed it already
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class _TrackingAdapter(HTTPAdapter):
    """An adapter whose urllib3 pools make connections that report each new socket to `track`."""

    def __init__(self, track: Callable[[socket.socket], None]):
        self._track_socket = track  # set before HTTPAdapter.__init__ builds the pool manager
        super().__init__()  # no retries: requests' default

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _tracked_pools(self._track_socket)


def _tracked_pools(track: Callable[[socket.socket], None]) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections report each new socket to `track`."""

    class TrackedHTTP(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _tracked(self, super()._new_conn(), track)

    class TrackedHTTPS(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _tracked(self, super()._new_conn(), track)

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPS

    return {"http": HTTPPool, "https": HTTPSPool}


def _tracked(connection: HTTPConnection, sock: socket.socket, track: Callable[[socket.socket], None]) -> socket.socket:
    try:
        track(sock)
    except OSError as exc:
        sock.close()
        raise NewConnectionError(connection, str(exc)) from None
    return sock


class _Watchdog:
    """One thread per process that cuts each session at its deadline (started on first use, and again in a
    forked child, where the parent's thread does not exist)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, weakref.ref[BoundedSession]]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, session: BoundedSession) -> None:
        with self._wake:
            heapq.heappush(self._due, (session.until, next(self._order), weakref.ref(session)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbound-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, ref = heapq.heappop(self._due)
            session = ref()
            if session is not None:
                session._cut_sockets()


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.reset)
