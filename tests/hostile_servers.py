"""Outbound faults for the tests, on loopback in the test process: HTTP servers that drip their body or their
headers a byte at a time, accept and never answer, or answer enormous bodies; and what a process holds
(threads, open descriptors, memory), read from /proc.

`HostileServer` counts the connections still open on its side: a client that cut its sockets leaves none.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

MODES = ("drip-body", "drip-headers", "hang")


class HostileServer:
    """An HTTP/1.1 server on 127.0.0.1 answering every GET the way `mode` says.

    - `drip-body`: a 200 with a Content-Length of 100 kB, then one body byte every `interval` seconds;
    - `drip-headers`: a status line, then one header byte every `interval` seconds (the headers never end);
    - `hang`: reads the request and never answers;
    - `answer`: `answer(path)` gives the whole body (JSON), sent at once with its length (keep-alive).
    A connection is held until the client closes it or `hold` seconds pass.
    """

    def __init__(
        self,
        mode: str,
        interval: float = 0.3,
        hold: float = 30.0,
        answer: Callable[[str], bytes] | None = None,
    ):
        self.mode, self.interval, self.hold, self.answer = mode, interval, hold, answer
        self.paths: list[str] = []  # the request target of every request, in order
        self._open = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, name="hostile-accept", daemon=True).start()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def wait_closed(self, seconds: float) -> int:
        """Connections still open after waiting up to `seconds` for the client to close them all."""
        until = time.monotonic() + seconds
        while self.open_connections and time.monotonic() < until:
            time.sleep(0.05)
        return self.open_connections

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                while (path := self._request(conn)) is not None:
                    with self._lock:
                        self.paths.append(path)
                    if not self._respond(conn, path):
                        return
        except OSError:
            pass  # the client went away: what we wait for
        finally:
            with self._lock:
                self._open -= 1

    def _request(self, conn: socket.socket) -> str | None:
        head = b""
        while b"\r\n\r\n" not in head:
            if not self._readable(conn, self.hold):
                return None
            data = conn.recv(4096)
            if not data:
                return None
            head += data
        return head.split(b" ", 2)[1].decode("latin-1")

    def _respond(self, conn: socket.socket, path: str) -> bool:
        """Answer one request; True when the connection may carry another."""
        if self.mode == "answer":
            assert self.answer is not None
            body = self.answer(path)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode() + body)
            return True
        if self.mode == "drip-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            self._until_closed(conn, b" ")
        elif self.mode == "drip-headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            self._until_closed(conn, b"a")
        else:
            self._until_closed(conn, None)
        return False

    def _until_closed(self, conn: socket.socket, drip: bytes | None) -> None:
        """Send `drip` every interval (or nothing) until the client closes, `hold` passes or the server stops."""
        until = time.monotonic() + self.hold
        while time.monotonic() < until and not self._stop.is_set():
            if self._readable(conn, self.interval) and not conn.recv(4096):
                return  # the client closed (or shut down) its end
            if drip:
                conn.sendall(drip)

    def _readable(self, conn: socket.socket, seconds: float) -> bool:
        return bool(select.select([conn], [], [], seconds)[0])


def settles(within: float, condition: Callable[[], bool]) -> bool:
    """Whether `condition` holds within `within` seconds (threads take a moment to exit after their work)."""
    until = time.monotonic() + within
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A `/proc/<pid>/status` memory field in KiB: VmRSS now, VmHWM the peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def python_workers(pid: int) -> list[int]:
    """The worker processes under a `cpt64640 serve` process: its Python descendants that have no children of
    their own (the gunicorn workers, wherever a front or a master sits between)."""
    python = os.path.realpath(sys.executable)
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        children = _children(parent)
        stack.extend(children)
        if parent != pid and not children and _exe(parent) == python:
            found.append(parent)
    return sorted(found)


def booted_workers(pid: int, count: int, seconds: float = 20.0) -> list[int]:
    """`python_workers` once `count` of them are up: /healthz answers as soon as the first worker does."""
    until = time.monotonic() + seconds
    while len(workers := python_workers(pid)) < count and time.monotonic() < until:
        time.sleep(0.1)
    return workers


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return out


def _exe(pid: int) -> str | None:
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return None
