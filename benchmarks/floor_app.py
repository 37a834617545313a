"""The floor: what any hook answer costs on this server stack before the service does any work.

A Flask app that only reads the body, JSON-decodes it and answers a small JSON, served by the service's own
gunicorn set-up (`cpt64640_cds.server.gunicorn.Service`: its worker class, workers, threads, request limits
and, when `cpt64640 serve` would start one, the same nginx front) - so the difference to the service is the
service's own work. Configured from the same environment variables as `cpt64640 serve` (HOST, PORT, WORKERS,
CDS_FRONT):

    CDS_AUTH=off PORT=18301 .venv/bin/python benchmarks/floor_app.py
"""

from __future__ import annotations

import json
import sys

from flask import Flask, Response, request

from cpt64640_cds.config import Settings
from cpt64640_cds.server import front
from cpt64640_cds.server.gunicorn import Service


def create_floor_app() -> Flask:
    app = Flask(__name__)

    @app.get("/readyz")
    def ready() -> Response:
        return Response('{"status": "ok"}', mimetype="application/json")

    @app.post("/cds-services/<service_id>")
    def hook(service_id: str) -> Response:
        body = json.loads(request.get_data())
        answer = {"cards": [], "keys": len(body.get("prefetch") or {})}
        return Response(json.dumps(answer), mimetype="application/json")

    return app


def main() -> int:
    settings = Settings.from_env()
    binary = front.find_nginx(settings)
    print(f"floor at http://{settings.host}:{settings.port}", flush=True)
    return Service(settings, binary, create_floor_app, lambda _pid: None, lambda _app: None).serve()


if __name__ == "__main__":
    sys.exit(main())
