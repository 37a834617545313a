"""Real servers on loopback, each in its own process group: the service (`cpt64640 serve`: gunicorn, behind nginx
unless CDS_FRONT=none) and the fixture FHIR server (`cpt64640 fhir-server`), on free ports. Used by the end-to-end
tests and the benchmarks; `stop()` shuts a server down, `kill()` crashes it, `group()` lists what still runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    base_url: str
    process: subprocess.Popen[str] | subprocess.Popen[bytes]
    log_path: Path | None = None

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            # gunicorn's graceful stop (10 s for calls in flight), then serve stops its nginx front.
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def group(self) -> dict[int, str]:
        """The live processes of this server's process group (serve and its gunicorn workers)."""
        return process_group(self.process.pid)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8").splitlines() if self.log_path else []


def process_group(leader: int) -> dict[int, str]:
    """The live processes of a process group (nginx leads its own): pid → command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command name in parentheses: state, parent, process group.
            state, _parent, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(group) == leader and state != "Z":
            found[int(stat.parent.name)] = command.strip()
    return found


def launch_fhir_server(paths: Iterable[Path | str], *options: str) -> Process:
    """`cpt64640 fhir-server PATHS --port 0 OPTIONS` (fault injection, token); returns once it listens."""
    command = [sys.executable, "-m", "cpt64640_cds", "fhir-server", *map(str, paths), "--port", "0", *options]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"fixture FHIR server did not start: {line!r}")
    return Process(match.group(1), process)


def start_service(folder: Path, port: int | None = None, **env: str) -> Process:
    """`cpt64640 serve` on a free port with its SQLite file and log in `folder`; `env` overrides the defaults
    (development mode, two workers, a 1.5 s deadline; CDS_FRONT is `auto`: nginx in front when it is installed,
    `none` or `nginx` to choose). Returns once /healthz answers."""
    port = port or free_port()
    log_path = folder / f"service-{port}.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CDS_")},
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{folder / f'service-{port}.sqlite3'}",
        "WORKERS": "2",
        "CDS_AUTH": "off",
        "CDS_REQUEST_DEADLINE_MS": "1500",
        "LOG_LEVEL": "INFO",
        **env,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cpt64640_cds", "serve"],
            env=environment,
            stdout=log,
            stderr=log,
            cwd=folder,
            start_new_session=True,
        )
    server = Process(f"http://127.0.0.1:{port}", process, log_path)
    for _ in range(150):
        try:
            if requests.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except (requests.ConnectionError, requests.Timeout):  # not listening yet; bound, workers still warming
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("service did not start:\n" + log_path.read_text())
