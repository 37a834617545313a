"""deploy/nginx/nginx.conf run for real on loopback: `render` rewrites it for a test folder (the instances, the
listen address, pid, temp and log paths, daemon off) and `running_proxy` starts /usr/sbin/nginx with it.

    with running_proxy(CONF, ["127.0.0.1:8101", "127.0.0.1:8102"], "127.0.0.1:8100", tmp_path) as proxy:
        requests.get(f"{proxy.base_url}/readyz")
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")

_UPSTREAM = re.compile(r"^(?P<indent>[ \t]*)upstream cpt64640 \{\n(?P<body>.*?)^(?P=indent)\}", re.M | re.S)
_SERVER = re.compile(r"^\s*server\s+\S+(?P<params>[^;]*);", re.M)
_LISTEN = re.compile(r"^(?P<indent>[ \t]*)listen\s+\S+", re.M)
_TEMP = re.compile(r"^(?P<indent>[ \t]*)(?P<kind>\w+)_temp_path\s+[^;]+;", re.M)


def render(conf: Path, upstreams: list[str], listen: str, folder: Path) -> Path:
    """`conf` rewritten into `folder`/nginx.conf: the upstream servers (each keeping the first server line's
    parameters, max_fails and fail_timeout), the listen address (host:port), pid, temp folders and access log in
    `folder`, the workers' user, in the foreground. Returns the new file's path."""
    text = conf.read_text(encoding="utf-8")
    upstream = _UPSTREAM.search(text)
    listens = _LISTEN.findall(text)
    if upstream is None or len(listens) != 1:
        raise ValueError(f"{conf}: expected one `upstream cpt64640 {{...}}` block and one listen line")
    first = _SERVER.search(upstream.group("body"))
    params = first.group("params") if first else ""
    indent = upstream.group("indent")
    servers = "".join(f"{indent}    server {address}{params};\n" for address in upstreams)
    text = text[: upstream.start()] + f"{indent}upstream cpt64640 {{\n{servers}{indent}}}" + text[upstream.end() :]
    text = _LISTEN.sub(lambda m: f"{m.group('indent')}listen {listen}", text)
    text = _TEMP.sub(lambda m: f"{m.group('indent')}{m.group('kind')}_temp_path {folder / m.group('kind')};", text)
    text = re.sub(r"^pid\s+[^;]+;", f"pid {folder / 'nginx.pid'};", text, flags=re.M)
    text = re.sub(r"access_log\s+/dev/stdout", f"access_log {folder / 'access.log'}", text)
    # The image's `nginx` user may not exist here: as root the workers run as whoever runs this (they use the
    # folder); otherwise nginx runs as that user anyway, and a user directive would only be warned about.
    text = re.sub(r"^user\s+[^;]+;\n", "", text, flags=re.M)
    root = os.geteuid() == 0
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n" if root else ""
    out = folder / "nginx.conf"
    out.write_text(f"daemon off;\n{user}{text}", encoding="utf-8")
    return out


@dataclass
class Proxy:
    base_url: str
    conf: Path
    process: subprocess.Popen[bytes]

    @property
    def access_log(self) -> Path:
        return self.conf.parent / "access.log"

    def access_lines(self) -> list[str]:
        return self.access_log.read_text(encoding="utf-8").splitlines() if self.access_log.exists() else []


@contextlib.contextmanager
def running_proxy(conf: Path, upstreams: list[str], listen: str, folder: Path, timeout: float = 10) -> Iterator[Proxy]:
    """nginx with `conf` rendered into `folder` (`render`), listening on `listen` (host:port) in front of
    `upstreams`, which need not be up yet; yields once it accepts connections, and stops it (gracefully, then
    for good) on exit."""
    if NGINX is None:
        raise RuntimeError("nginx is not installed (scripts/system-deps installs it)")
    host, port = listen.rsplit(":", 1)
    rendered = render(conf, upstreams, listen, folder)
    log = (folder / "error.log").open("wb")
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(rendered), "-e", "stderr"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own group: its workers are stopped with it
    )
    try:
        _wait_listening(process, (host.strip("[]"), int(port)), timeout, folder / "error.log")
        yield Proxy(f"http://{listen}", rendered, process)
    finally:
        _stop(process)
        log.close()


def _wait_listening(process: subprocess.Popen[bytes], address: tuple[str, int], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with status {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(address, timeout=0.5):
            return
        if time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"nginx did not listen on {address} within {timeout} s:\n{log.read_text()}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """nginx's graceful stop (SIGQUIT), then SIGKILL to its whole group: workers outlive a killed master."""
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
