"""nginx as the buffering front of `cpt64640 serve` (CDS_FRONT): found, configured from the template shipped
in this package, started by gunicorn's arbiter once gunicorn listens, stopped with it.

A threaded server gives a thread to a connection as soon as its first byte arrives, so a few clients sending
one byte a second hold every thread. nginx reads each request whole (the header within a few seconds, the
body into memory or a file of the run folder) before it opens a connection to gunicorn's private unix
socket, and takes each response whole: gunicorn only ever talks to nginx, at nginx's speed.

nginx's stderr (alerts only, nginx.conf.template) is a pipe that serve reads: each line becomes an `nginx` JSON
event, cut before the connection's context (`, client: ..., request: "...", host: "..."`) that nginx appends,
which quotes the client. Read in the arbiter's loop, not in a thread: the arbiter forks workers."""

from __future__ import annotations

import contextlib
import ctypes
import grp
import logging
import os
import pwd
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources as package_files
from pathlib import Path

from ..config import ConfigError, Settings
from ..errors import Issue
from ..logs import LOGGER_NAME, event
from . import outcomes

WORKER_CONNECTIONS = 4096  # per nginx worker; a connection costs a few KB while nginx waits on it
PROXY_TIMEOUT_MARGIN = 10  # seconds nginx waits on gunicorn beyond gunicorn's own worker timeout

# Status nginx detects → (status sent, issue). 494 is nginx's code for a header over its buffers; the
# client's faults that nginx would answer with a 5xx (501, 505) are 400s, like everywhere in the service.
_NGINX_ERRORS: dict[int, tuple[int, Issue]] = {
    400: (400, outcomes.REQUEST),
    408: (408, outcomes.TIMEOUT),
    404: (404, outcomes.NOT_FOUND),
    411: (411, outcomes.LENGTH_REQUIRED),
    414: (414, outcomes.REQUEST_LINE_TOO_LONG),
    494: (431, outcomes.HEADERS_TOO_LARGE),
    500: (500, outcomes.INTERNAL),
    501: (400, outcomes.TRANSFER_CODING),
    502: (502, outcomes.UNAVAILABLE),
    503: (503, outcomes.UNAVAILABLE),
    504: (504, outcomes.NO_ANSWER),
    505: (400, outcomes.REQUEST_LINE),
}
_RETRY = {502, 503}
ERROR_PAGES = "/.cpt64640-front/"  # internal locations: asked for directly, they are a 404

_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.:\[\]-]+|null")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]+")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# "2026/12/02 10:00:00 [alert] 12#12: *3 text, client: ..." or, before its log is open, "nginx: [emerg] text".
_NGINX_LINE = re.compile(r"(?:\S+ \S+ |nginx: )?\[(\w+)\] (?:\d+#\d+: )?(?:\*\d+ )?(.*?)(?:, client: .*)?")
_NGINX_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO, "warn": logging.WARNING}
NGINX_LINE_CHARS = 300


class FrontError(RuntimeError):
    """nginx could not be started; serve stops."""


def find_nginx(settings: Settings) -> str | None:
    """The nginx binary `serve` starts in front of gunicorn, or None to serve gunicorn alone (CDS_FRONT)."""
    if settings.front == "none":
        return None
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None and settings.front == "nginx":
        raise ConfigError(
            "CDS_FRONT=nginx but no nginx was found on PATH or in /usr/sbin: install it (Debian: apt-get install "
            "nginx), or set CDS_FRONT=none behind your own buffering proxy (docs/reliability.md)"
        )
    return binary


def render(settings: Settings, run_dir: Path, upstream: Path, worker_timeout: int) -> str:
    """nginx.conf for this serve: listening on HOST:PORT, passing whole requests to gunicorn at `upstream`."""
    hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = 2 * WORKER_CONNECTIONS + 64  # a client and a gunicorn socket per connection
    files = needed if hard_limit == resource.RLIM_INFINITY else min(hard_limit, needed)
    values = {
        "user": _user_directive(),
        "worker_processes": str(min(2, os.cpu_count() or 1)),
        "worker_rlimit_nofile": str(files),
        "worker_connections": str(min(WORKER_CONNECTIONS, (files - 64) // 2)),
        "run_dir": str(run_dir),
        "max_body_bytes": str(settings.max_body_bytes),
        "proxy_timeout": str(worker_timeout + PROXY_TIMEOUT_MARGIN),
        "cors_origins": _cors_map(settings.cors_origins),
        "listen": _listen(settings.host, settings.port),
        "upstream": str(upstream),
        "error_pages": _error_pages(settings),
    }
    template = package_files.files(__package__).joinpath("nginx.conf.template").read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@dataclass
class Front:
    """A running nginx: its master is a child of gunicorn's arbiter and leads its own process group."""

    process: subprocess.Popen[bytes]
    _partial: bytes = field(default=b"", repr=False)

    def relay_log(self, final: bool = False) -> None:
        """Log what nginx has written to its stderr since the last call (all of it once nginx is gone: `final`)."""
        assert self.process.stderr is not None
        chunks = [self._partial]
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.process.stderr.fileno(), 65536):
                chunks.append(chunk)
        *lines, self._partial = b"".join(chunks).split(b"\n")
        if final and self._partial:
            lines, self._partial = [*lines, self._partial], b""
        for line in lines:
            if line.strip():
                log_nginx_line(line.decode("utf-8", "replace"))

    def exited(self) -> bool:
        return self.process.poll() is not None

    def stop_accepting(self) -> None:
        """nginx's graceful stop: no new connections, requests in flight are finished."""
        if not self.exited():
            self.process.send_signal(signal.SIGQUIT)

    def stop(self, grace: float) -> None:
        """Wait for a graceful stop up to `grace` seconds, then end nginx at once; its workers too, which
        outlive a master that was killed (and would keep listening)."""
        self.stop_accepting()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                self.process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                self.process.send_signal(sig)
                grace = 5
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.relay_log(final=True)


def log_nginx_line(line: str) -> None:
    match = _NGINX_LINE.fullmatch(line.strip())
    level, text = match.groups() if match else ("unknown", "(a line not in nginx's format)")
    event(
        logging.getLogger(LOGGER_NAME),
        "nginx",
        _NGINX_LEVELS.get(level, logging.ERROR),
        message=f"[{level}] {text[:NGINX_LINE_CHARS]}",
    )


def start(binary: str, settings: Settings, run_dir: Path, upstream: Path, worker_timeout: int) -> Front:
    """Start nginx with its configuration in `run_dir` and return once it listens on HOST:PORT."""
    config = run_dir / "nginx.conf"
    config.write_text(render(settings, run_dir, upstream, worker_timeout), encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-p", str(run_dir), "-c", str(config), "-e", "stderr"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        process_group=0,  # its own group: its workers can be found and stopped when the master is gone
        preexec_fn=_die_with_parent,  # the arbiter has no other thread yet
    )
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    front = Front(process)
    pid_file = run_dir / "nginx.pid"  # written once the listening sockets are bound
    deadline = time.monotonic() + 10
    while not pid_file.exists():
        if process.poll() is not None:
            front.relay_log(final=True)
            raise FrontError(
                f"nginx exited (status {process.returncode}) before listening on {settings.host}:{settings.port}; "
                "its own message is logged above (event nginx)"
            )
        if time.monotonic() > deadline:
            front.stop(grace=0)
            raise FrontError("nginx did not start listening within 10 s")
        time.sleep(0.05)
    return front


def _die_with_parent() -> None:
    """In nginx before exec: SIGTERM when the arbiter dies without stopping it (a SIGKILL, the OOM killer)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _user_directive() -> str:
    """nginx's workers run as the user serve runs as; nginx drops them to `nobody` only when run as root."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


def _listen(host: str, port: int) -> str:
    if not _HOST.fullmatch(host):
        raise ConfigError(f"HOST: {host!r} is not an address nginx can listen on")
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _cors_map(origins: tuple[str, ...]) -> str:
    """The app's CORS policy (web/http.py `cors`): every origin with *, else the configured origin that asks."""
    if "*" in origins:
        return '        default "*";'
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(f"CDS_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port])")
    return "\n".join(['        default "";', *(f'        "{origin}" "{origin}";' for origin in origins)])


def _cors_headers(origins: tuple[str, ...]) -> list[str]:
    headers = [
        "add_header Access-Control-Allow-Origin $cds_cors_origin always;",
        'add_header Access-Control-Allow-Methods "GET, POST, OPTIONS" always;',
        'add_header Access-Control-Allow-Headers "Content-Type, Authorization" always;',
        "add_header Access-Control-Max-Age 600 always;",
    ]
    return headers if "*" in origins else [*headers, "add_header Vary Origin always;"]


def _error_pages(settings: Settings) -> str:
    """A named location per error nginx answers itself, returning an OperationOutcome with the CORS headers."""
    pages = {**_NGINX_ERRORS, 413: (413, outcomes.body_too_large(settings.max_body_bytes))}
    blocks = []
    for status, (sent, issue) in sorted(pages.items()):
        text = outcomes.body(issue).decode("ascii")
        if any(c in text for c in "'\\$"):  # would end or change nginx's quoted string
            raise ValueError(f"the {status} page cannot be written into nginx.conf")
        lines = [
            "internal;",
            "default_type application/fhir+json;",
            *_cors_headers(settings.cors_origins),
            *(["add_header Retry-After 1 always;"] if sent in _RETRY else []),
            f"return {sent} '{text}';",
        ]
        body = "".join(f"            {line}\n" for line in lines)
        # A URI, not a named location: nginx has no URI to redirect from when the request line is broken.
        uri = f"{ERROR_PAGES}{status}"
        blocks.append(f"        error_page {status} ={sent} {uri};\n        location = {uri} {{\n{body}        }}")
    return "\n".join(blocks)
