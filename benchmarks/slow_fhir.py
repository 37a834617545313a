"""The fixture FHIR server with a per-resource-type latency, for the benchmark's fetch mode: one prefetch key is
slowest, the others answer sooner, so a service that fetches its keys in parallel should take about as long as
the slowest query, and one that fetches them in turn the sum.

    .venv/bin/python benchmarks/slow_fhir.py RECORD.json --port 18310 --latency Condition=50 --latency '*=20'
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from flask import request
from werkzeug.serving import make_server

from cpt64640_cds.tools.fhirserver import FixtureStore, create_fhir_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--latency", action="append", default=[], metavar="TYPE=MS", help="delay for a resource type (* = others)"
    )
    args = parser.parse_args()
    delays = {kind: int(ms) / 1000 for kind, ms in (item.split("=", 1) for item in args.latency)}
    app = create_fhir_app(FixtureStore(args.paths))

    @app.before_request
    def _delay() -> None:
        kind = request.path.strip("/").split("/", 1)[0]
        if kind and not kind.startswith("_"):
            time.sleep(delays.get(kind, delays.get("*", 0.0)))

    server = make_server("127.0.0.1", args.port, app, threaded=True)
    print(f"slow FHIR server at http://127.0.0.1:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
