"""Slow clients, the attack that takes a threaded server down: connections that send a valid request one byte a
second. Used by tests/e2e/test_slow_clients.py and benchmarks/slow_clients.py.

    with SlowClients("http://127.0.0.1:8080", "/cds-services/cpt64640-order-sign", body, count=64, bodies=16):
        ...  # every connection is open and dripping here
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from urllib.parse import urlsplit


class SlowClients:
    """`count` connections POSTing `body` to `path` one byte a second; the first `bodies` of them send a whole
    header announcing a body 100 times larger, then drip that body. A connection the server closes (nginx's
    header and body timeouts) is opened again at once, so the attack holds for as long as it runs."""

    def __init__(self, base_url: str, path: str, body: bytes, count: int, bodies: int) -> None:
        parts = urlsplit(base_url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.path, self.body = path, body
        self.count, self.bodies = count, bodies
        self.reopened = 0
        self.sockets: list[socket.socket | None] = [None] * count
        self.pending: list[bytes] = [b""] * count
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        for i in range(self.count):
            self._open(i)
            time.sleep(0.02)  # one at a time, as they would come: every gunicorn worker takes its share
        self.thread.start()
        time.sleep(2)  # each connection holds a gunicorn thread by now when nothing buffers in front
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            if sock:
                sock.close()

    def _open(self, i: int) -> None:
        sock = socket.create_connection(self.address, timeout=2)
        sock.setblocking(False)
        self.sockets[i] = sock
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.address[0]}\r\nContent-Type: application/json\r\n"
        if i < self.bodies:
            sock.send(f"{head}Content-Length: {100 * len(self.body)}\r\n\r\n".encode())
            self.pending[i] = self.body * 100
        else:
            self.pending[i] = f"{head}Content-Length: {len(self.body)}\r\n\r\n".encode() + self.body
        self._send(i)

    def _send(self, i: int) -> None:
        sock = self.sockets[i]
        assert sock is not None
        sock.send(self.pending[i][:1])
        self.pending[i] = self.pending[i][1:]

    def _run(self) -> None:
        while not self.stopping.wait(1):
            for i, sock in enumerate(self.sockets):
                try:
                    self._send(i)
                except OSError as exc:  # the server closed it
                    if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EAGAIN):
                        raise
                    if sock:
                        sock.close()
                    self.reopened += 1
                    self._open(i)
