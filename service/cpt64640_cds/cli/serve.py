"""`cpt64640 serve`: the CDS Hooks service, gunicorn behind nginx (server/)."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings


def add(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the CDS Hooks service: gunicorn behind nginx (CDS_FRONT)")
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8080)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default WORKERS or 2)")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..server.gunicorn import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v}
    return serve(Settings.from_env(**overrides))
