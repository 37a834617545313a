"""`cpt64640 fhir-server`: FHIR fixture folders served over HTTP on loopback (tools/fhirserver.py)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any


def add(commands: Any) -> None:
    fhir = commands.add_parser("fhir-server", help="serve FHIR fixture folders over HTTP on loopback")
    fhir.add_argument("paths", nargs="+", help="folders or files of FHIR JSON (resources or Bundles)")
    fhir.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    fhir.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 = any free port)")
    fhir.add_argument("--latency", type=int, default=0, metavar="MS", help="delay added to every response")
    fhir.add_argument("--fail-rate", type=float, default=0.0, metavar="R", help="share of requests that get 500")
    fhir.add_argument(
        "--malformed-rate", type=float, default=0.0, metavar="R", help="share of requests answered with broken JSON"
    )
    fhir.add_argument("--token", help="require this bearer token")
    fhir.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from ..tools.fhirserver import Faults, FixtureStore, create_fhir_app

    store = FixtureStore(Path(p) for p in args.paths)
    faults = Faults(
        latency_ms=args.latency, fail_rate=args.fail_rate, malformed_rate=args.malformed_rate, token=args.token
    )
    server = make_server(args.host, args.port, create_fhir_app(store, faults), threaded=True)
    print(f"fixture FHIR server with {store.count()} resources at http://{args.host}:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
