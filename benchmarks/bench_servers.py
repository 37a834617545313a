"""The servers the benchmark measures, each a process group on a free loopback port of 18300-18399: the service as
`make run` starts it, the floor, the HealthChain handler and the slow fixture FHIR server; and the memory of a
gunicorn master's workers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cpt64640_cds.tools.processes import Process

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PORTS = range(18300, 18400)
_handed_out: set[int] = set()


class StartError(RuntimeError):
    """A server did not come up; the message ends with its log."""


def free_port() -> int:
    for port in PORTS:
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise StartError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@dataclass
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    ready_path: str = ""
    started: float = field(default_factory=time.perf_counter)
    ready_after: float = 0.0  # s from launch to ready

    def wait_ready(self, path: str, timeout: float = 120) -> None:
        """Poll `path` until it answers 200."""
        self.ready_path = path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base_url + path, timeout=2).status_code == 200:
                    self.ready_after = time.perf_counter() - self.started
                    return
            time.sleep(0.1)
        self.stop()
        raise StartError(f"{self.name} did not become ready:\n{self.log.read_text(errors='replace')[-3000:]}")

    def wait_warm(self, workers: int, timeout: float = 60) -> None:
        """Until every worker has logged its warm-up: /readyz answers from the first warm worker, and a sibling
        still rehearsing would share the cores with the first measured call."""
        deadline = time.monotonic() + timeout
        while self.log.read_text(errors="replace").count('"event": "warm"') < workers:
            if time.monotonic() > deadline:
                raise StartError(f"{self.name}: fewer than {workers} workers warm after {timeout:.0f} s")
            time.sleep(0.05)

    def front(self) -> str:
        """What listens on the port: nginx (a child of the master) or gunicorn itself."""
        return "nginx" if any("nginx" in _command(pid) for pid in children(self.process.pid)) else "none"

    def workers(self) -> list[int]:
        """The gunicorn workers: the master's children other than its nginx front."""
        return [pid for pid in children(self.process.pid) if "nginx" not in _command(pid)]

    def stop(self) -> None:
        Process(self.base_url, self.process).stop()  # SIGTERM to the group, SIGKILL after 30 s


def gunicorn_model() -> dict[str, Any]:
    """The service's gunicorn set-up as `make run` gets it: worker class, workers, threads."""
    from cpt64640_cds.config import Settings
    from cpt64640_cds.server.gunicorn import Service

    settings = Settings.from_env({"CDS_AUTH": "off"})
    cfg = Service(settings, None, lambda: None, lambda _pid: None, lambda _app: None).cfg
    return {"worker_class": cfg.worker_class_str, "workers": cfg.workers, "threads": cfg.threads}


def healthchain_version(venv: Path) -> str:
    command = [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('healthchain'))"]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip() or "?"


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
    return sorted(found)


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process, in MB."""
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


def _launch(name: str, command: list[str], folder: Path, env: dict[str, str], cwd: Path = ROOT) -> Server:
    port = int(env["PORT"])
    log = folder / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def _environment(folder: Path, port: int) -> dict[str, str]:
    """`make run`'s environment: CDS_AUTH=off and the embedded defaults (two workers), on a bench port, with
    its own SQLite file."""
    return {
        **os.environ,
        "CDS_AUTH": "off",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{folder / f'service-{port}.sqlite3'}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "service"), os.environ.get("PYTHONPATH")) if p),
    }


def start_service(folder: Path) -> Server:
    """`cpt64640 serve` as `make run` starts it; ready when /readyz answers 200 and every worker is warm."""
    port = free_port()
    server = _launch("service", [sys.executable, "-m", "cpt64640_cds", "serve"], folder, _environment(folder, port))
    server.wait_ready("/readyz")
    server.wait_warm(gunicorn_model()["workers"])
    return server


def start_floor(folder: Path) -> Server:
    port = free_port()
    server = _launch("floor", [sys.executable, str(BENCHMARKS / "floor_app.py")], folder, _environment(folder, port))
    server.wait_ready("/readyz")
    return server


def start_healthchain(folder: Path, venv: Path, workers: int) -> Server:
    """The HealthChain handler as HealthChain apps are served: gunicorn with uvicorn workers, as many workers."""
    port = free_port()
    command = [
        str(venv / "bin" / "gunicorn"),
        "--worker-class=uvicorn.workers.UvicornWorker",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
        "--chdir",
        str(BENCHMARKS),
        "healthchain_app:app",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"PORT": str(port)}
    server = _launch("healthchain", command, folder, env, cwd=BENCHMARKS)
    server.wait_ready("/health")
    return server


def start_slow_fhir(folder: Path, record: Path, latencies: dict[str, int]) -> Server:
    port = free_port()
    options = [f"--latency={kind}={ms}" for kind, ms in latencies.items()]
    command = [sys.executable, str(BENCHMARKS / "slow_fhir.py"), str(record), f"--port={port}", *options]
    server = _launch("fhir", command, folder, _environment(folder, port))
    server.wait_ready("/metadata")
    return server
