"""`cpt64640` command line: `serve` (the CDS service under gunicorn) and `fhir-server` (fixture FHIR)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, Settings
from .knowledge import KnowledgeError


def _serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from .app import create_app
    from .knowledge import load
    from .store import Store

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v}
    settings = Settings.from_env(**overrides)
    kb = load()  # fail before forking workers when a knowledge file is broken
    Store(settings.database_url).close()  # create tables once, before the workers race for it

    class Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", None)  # one JSON line per hook call comes from the app instead
            self.cfg.set("loglevel", settings.log_level.lower())
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 27+: one shared socket path per user
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return create_app(settings)

    print(
        f"cpt64640-cds rule set {kb.version}: CDS Hooks discovery at "
        f"http://{settings.host}:{settings.port}/cds-services",
        flush=True,
    )
    Gunicorn().run()
    return 0


def _fhir_server(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from .fhirserver import Faults, FixtureStore, create_fhir_app

    store = FixtureStore(Path(p) for p in args.paths)
    faults = Faults(latency_ms=args.latency, fail_rate=args.fail_rate, token=args.token)
    server = make_server(args.host, args.port, create_fhir_app(store, faults), threaded=True)
    print(f"fixture FHIR server with {store.count()} resources at http://{args.host}:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cpt64640", description="CDS Hooks coding assistant for CPT 64640")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the CDS Hooks service under gunicorn")
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8080)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default WORKERS or 2)")
    serve.set_defaults(run=_serve)

    fhir = commands.add_parser("fhir-server", help="serve FHIR fixture folders over HTTP on loopback")
    fhir.add_argument("paths", nargs="+", help="folders or files of FHIR JSON (resources or Bundles)")
    fhir.add_argument("--host", default="127.0.0.1")
    fhir.add_argument("--port", type=int, default=8090, help="port (0 = any free port)")
    fhir.add_argument("--latency", type=int, default=0, metavar="MS", help="delay added to every response")
    fhir.add_argument("--fail-rate", type=float, default=0.0, metavar="R", help="share of requests that get 500")
    fhir.add_argument("--token", help="require this bearer token")
    fhir.set_defaults(run=_fhir_server)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, KnowledgeError) as exc:
        print(f"cpt64640: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
