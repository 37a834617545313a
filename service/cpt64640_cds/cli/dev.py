"""`cpt64640 dev` (what `make run` starts): the fixture FHIR server (tools/fhirserver.py) on loopback in this
process, and `cpt64640 serve` beside it as a child told the fixture server's URL (CDS_PLAYGROUND_FHIR_URL).
SIGTERM or Ctrl-C stops both: the signal is passed on to serve, which stops its workers and nginx, then the
FHIR server stops with this process. `serve` itself is unchanged: production never runs this command."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from ..config import Settings

READY_WITHIN_S = 120  # the first start builds the SQLite file and rehearses every service


def add(commands: Any) -> None:
    dev = commands.add_parser(
        "dev", help="local development (make run): the service with the fixture FHIR server beside it"
    )
    dev.add_argument("paths", nargs="+", help="folders or files of FHIR JSON for the fixture FHIR server")
    dev.add_argument(
        "--fhir-port", type=int, default=8090, help="the fixture FHIR server's port (default 8090; 0 = any free port)"
    )
    dev.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from ..tools.fhirserver import Faults, FixtureStore, create_fhir_app

    settings = Settings.from_env()  # a bad setting stops here, in one line, before anything starts
    store = FixtureStore(Path(p) for p in args.paths)
    fhir = make_server("127.0.0.1", args.fhir_port, create_fhir_app(store, Faults()), threaded=True)
    fhir_url = f"http://127.0.0.1:{fhir.port}"
    threading.Thread(target=fhir.serve_forever, name="fixture-fhir", daemon=True).start()
    patients = len(store.by_type.get("Patient", {}))
    print(f"fixture FHIR server at {fhir_url}: {patients} patients, {store.count()} resources", flush=True)

    # serve stays in this process group: Ctrl-C reaches it (and its workers) from the terminal directly.
    service = subprocess.Popen(
        [sys.executable, "-m", "cpt64640_cds", "serve"], env={**os.environ, "CDS_PLAYGROUND_FHIR_URL": fhir_url}
    )

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        if service.poll() is None:
            service.send_signal(signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    if _ready(f"http://{settings.host}:{settings.port}/healthz", service):
        discovery = f"http://{settings.host}:{settings.port}/cds-services"
        print(f"ready: CDS Hooks discovery at {discovery}, fixture FHIR server at {fhir_url}", flush=True)
        if settings.playground_enabled:
            print(f"playground at http://{settings.host}:{settings.port}/ (docs/playground.md)", flush=True)
    code = service.wait()
    fhir.shutdown()
    return code


def _ready(health: str, service: subprocess.Popen[bytes]) -> bool:
    """True once the service answers /healthz; False when it exits first or takes too long."""
    deadline = time.monotonic() + READY_WITHIN_S
    while service.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health, timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:  # not listening yet, or workers still warming
            pass
        time.sleep(0.2)
    return False
