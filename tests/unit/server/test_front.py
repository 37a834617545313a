"""The nginx configuration `serve` renders, and the words of the HTTP servers' own errors."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from gunicorn.http import errors as http_errors

from cpt64640_cds.config import ConfigError, Settings
from cpt64640_cds.server import front, outcomes
from cpt64640_cds.server.front import find_nginx, render
from cpt64640_cds.server.worker import classify

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def _render(tmp_path, **settings):
    return render(Settings(auth="off", **settings), tmp_path, tmp_path / "gunicorn.sock", 30)


def test_the_front_buffers_whole_requests_within_the_apps_limits(tmp_path):
    config = _render(tmp_path, port=8123, max_body_bytes=1234)
    for line in (
        "listen 127.0.0.1:8123",
        "client_max_body_size 1234;",
        "proxy_request_buffering on;",
        "proxy_read_timeout 40s;",  # gunicorn's 30 s timeout, and a margin
        f"proxy_pass http://unix:{tmp_path / 'gunicorn.sock'}:;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"pid {tmp_path}/nginx.pid;",
        "server_tokens off;",
    ):
        assert line in config
    assert "{{" not in config


def test_error_pages_are_operation_outcomes_with_the_apps_cors(tmp_path):
    config = _render(tmp_path, cors_origins=("https://ehr.example.org", "https://other.example.org"))
    assert '"https://ehr.example.org" "https://ehr.example.org";' in config
    assert 'default "";' in config  # an origin not listed gets no Access-Control-Allow-Origin
    assert config.count("add_header Vary Origin always;") == config.count("error_page ")
    body = json.loads(config.split("return 413 '")[1].split("';")[0])
    assert body["issue"][0]["diagnostics"] == outcomes.body_too_large(5 * 1024 * 1024).diagnostics
    assert "error_page 494 =431 " in config  # nginx's own code for a header over its buffers


@pytest.mark.parametrize(
    "settings",
    [{"cors_origins": ('https://x.org" always; include /etc/passwd; "',)}, {"host": "127.0.0.1; evil"}],
)
def test_a_value_that_could_change_the_configuration_stops_start_up(tmp_path, settings):
    with pytest.raises(ConfigError):
        _render(tmp_path, **settings)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-deps installs it)")
def test_nginx_accepts_the_configuration(tmp_path):
    (tmp_path / "nginx.conf").write_text(_render(tmp_path, port=8123, cors_origins=("https://ehr.example.org",)))
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (http_errors.InvalidRequestLine("GET /<script>"), 400),
        (http_errors.LimitRequestLine(9000, 8190), 414),
        (http_errors.LimitRequestHeaders("too many"), 431),
        (http_errors.InvalidHeader("CONTENT-LENGTH"), 400),
        (http_errors.InvalidHeaderName("X-<script>"), 400),
        (http_errors.InvalidChunkSize(b"zz"), 400),
        (http_errors.UnsupportedTransferCoding("gzip"), 400),
        (http_errors.InvalidResponseHeader("X-App", "bad\r\n"), 500),
        (RuntimeError("boom"), 500),
    ],
)
def test_gunicorns_errors_get_a_status_and_our_words(exc, status):
    got, issue = classify(exc)
    assert got == status
    assert "<script>" not in issue.diagnostics and "gzip" not in issue.diagnostics and "boom" not in issue.diagnostics


def test_a_header_is_named_only_when_it_is_one_we_know():
    named = classify(http_errors.InvalidHeader("CONTENT-LENGTH"))[1]
    assert named.diagnostics == "(headers): Content-Length is not valid"
    assert classify(http_errors.InvalidHeader("X-CLIENT-TEXT"))[1] == outcomes.HEADERS


def test_which_front_serve_starts(monkeypatch):
    assert find_nginx(Settings(auth="off", front="none")) is None
    monkeypatch.setattr(front.shutil, "which", lambda *_args, **_kwargs: None)  # nginx is not installed
    assert find_nginx(Settings(auth="off", front="auto")) is None  # serve warns and runs gunicorn alone
    with pytest.raises(ConfigError, match="CDS_FRONT=nginx"):
        find_nginx(Settings(auth="off", front="nginx"))
