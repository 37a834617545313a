"""CORS on every response, errors included; preflight answered without authentication."""

from __future__ import annotations

import pytest

from cpt64640_cds.web.app import create_app

from ..conftest import SIGN

ORIGIN = "https://sandbox.cds-hooks.org"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/cds-services", None),
        ("POST", f"/cds-services/{SIGN}", b"{"),
        ("POST", f"/cds-services/{SIGN}", b'{"hook": "order-sign"}'),
        ("POST", "/cds-services/unknown", b"{}"),
        ("POST", f"/cds-services/{SIGN}/feedback", b"{}"),
        ("GET", "/healthz", None),
    ],
)
def test_cors_headers_on_every_response(client, method, path, body):
    response = client.open(path, method=method, data=body, headers={"Origin": ORIGIN}, content_type="application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("path", ["/cds-services", f"/cds-services/{SIGN}", f"/cds-services/{SIGN}/feedback"])
def test_preflight_needs_no_authentication(client, path):
    response = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }


def test_configured_origins_are_echoed_others_are_not(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}", "cors_origins": (ORIGIN,)})
    client = app.test_client()
    allowed = client.get("/cds-services", headers={"Origin": ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in allowed.headers["Vary"]
    other = client.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
