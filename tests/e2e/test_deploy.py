"""The deployment files under deploy/, checked without a container engine (none runs where the tests run): the
Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate, offline), compose.yaml against the
Compose Specification's JSON schema (vendored in tests/data/), the production nginx.conf run for real in front of
the real service, the PostgreSQL roles script run on a private cluster, and every setting named in the Dockerfile,
compose.yaml and the ConfigMap found in README.md's configuration table."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import psycopg
import pytest
import requests
import yaml

from cpt64640_cds.config import Settings
from cpt64640_cds.server import front
from cpt64640_cds.tools.processes import Process, free_port, start_service
from cpt64640_cds.tools.slow_clients import SlowClients

from ..conftest import ROOT, SIGN, fixture_request
from ..deploy_proxy import CONF, NGINX, Proxy, render, running_proxy
from .conftest import post_hook

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# The oldest Kubernetes minor the manifests are held to (still under the large clouds' extended support; nothing
# newer is used) and a release under upstream support; both are bundled by kubernetes-validate >= 1.35.
KUBERNETES_VERSIONS = ("1.30.0", "1.35.0")
IMAGE = "cpt64640-cds"
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-deps installs it)")


def _settings_in_readme() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M))


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def _kind(kind: str) -> dict[str, Any]:
    [doc] = [doc for _, doc in _manifests() if doc["kind"] == kind and not doc["metadata"]["name"].endswith("-owner")]
    return doc


# Kubernetes


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_manifest_validates_offline_and_strictly(version):
    manifests = _manifests()
    assert {doc["kind"] for _, doc in manifests} >= {
        "Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Secret", "Job", "CronJob",
        "PodDisruptionBudget", "Ingress",
    }  # fmt: skip
    for name, doc in manifests:
        # validate() raises for a kind it has no schema for, where the command line only warns.
        assert kubernetes_validate.validate(doc, version, strict=True) == version.rsplit(".", 1)[0], name


def test_the_validator_refuses_a_misspelt_field():
    """The control: strict validation is on, so a typo is not silently ignored."""
    deployment = _kind("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_lists_manifests_that_exist_and_leaves_secrets_and_the_job_out():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert all((K8S / name).is_file() for name in listed)
    assert "secret.yaml" not in listed and "migrate-job.yaml" not in listed


def test_the_deployment_probes_secures_and_wires_the_service():
    config = _kind("ConfigMap")["data"]
    pod = _kind("Deployment")["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["args"] == ["serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"] and "emptyDir" in mounts[config["CDS_DATA_DIR"]]
    issuers = Path(config["CDS_TRUSTED_ISSUERS"])
    secret = mounts[str(issuers.parent)]["secret"]
    assert [item["path"] for item in secret["items"]] == [issuers.name]
    assert issuers.name in _kind("Secret")["stringData"]
    json.loads(_kind("Secret")["stringData"][issuers.name])  # the example is a JSON file
    assert config["CDS_FRONT"] == "none" and config["CDS_AUTH"] == "required" and config["CDS_PUBLIC_BASE_URL"]
    assert set(config) <= _settings_in_readme()
    # The Service and the budget select the pods; the autoscaler scales this Deployment on CPU.
    labels = pod["metadata"]["labels"]
    assert _kind("Service")["spec"]["selector"].items() <= labels.items()
    assert _kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = _kind("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == _kind("Deployment")["metadata"]["name"]
    assert [metric["resource"]["name"] for metric in hpa["metrics"]] == ["cpu"]


def test_migrations_run_as_the_owner_and_prune_as_the_service_role():
    [job] = _kind("Job")["spec"]["template"]["spec"]["containers"]
    assert job["args"] == ["db", "upgrade"]
    assert job["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "cpt64640-cds-owner"
    [prune] = _kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert prune["args"] == ["db", "prune"]
    assert prune["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "cpt64640-cds"


# Compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def compose_schema() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft201909Validator(schema)


def test_compose_file_follows_the_compose_specification(compose, compose_schema):
    assert [error.message for error in compose_schema.iter_errors(compose)] == []
    broken = json.loads(json.dumps(compose))
    broken["services"]["cds-1"]["depends_on"]["migrate"]["condition"] = "service_finished"
    assert list(compose_schema.iter_errors(broken))  # the control: the schema does look inside


def test_compose_runs_two_instances_after_the_migration_behind_nginx(compose):
    services = compose["services"]
    instances = [name for name, s in services.items() if s.get("image") == IMAGE and "command" not in s]
    instances = [name for name in instances if "entrypoint" not in services[name]]
    assert len(instances) == 2
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert "cpt64640_owner" in migrate["environment"]["DATABASE_URL"]
    for name in instances:
        env = services[name]["environment"]
        assert "cpt64640_service" in env["DATABASE_URL"]
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert env["CDS_FRONT"] == "none"
        assert env["CDS_FORWARDED_ALLOW_IPS"] == services["nginx"]["networks"]["cds"]["ipv4_address"]
        assert services["nginx"]["depends_on"][name]["condition"] == "service_healthy"
    # nginx's upstream block names exactly these instances, on the port they listen on.
    upstream = re.search(r"upstream cpt64640 \{(.*?)\}", CONF.read_text(), re.S)
    assert upstream is not None
    assert sorted(re.findall(r"server\s+(\S+)", upstream.group(1))) == [f"{name}:8080" for name in sorted(instances)]
    mounted = {volume.split(":")[0] for s in services.values() for volume in s.get("volumes", [])}
    assert {"./nginx/nginx.conf", "./postgres/init-roles.sh"} <= mounted
    assert all((DEPLOY / path).is_file() for path in mounted if path.startswith("./"))
    assert compose["secrets"]["trusted_issuers"]["file"] == "./trusted-issuers.json"
    json.loads((DEPLOY / "trusted-issuers.example.json").read_text())  # what the operator copies there


def test_compose_and_dockerfile_name_only_documented_settings(compose):
    known = _settings_in_readme()
    ours = [s for s in compose["services"].values() if s.get("image") == IMAGE]
    named = {name for s in ours for name in s.get("environment", {})}
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    named |= set(re.findall(r"^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]+)=", dockerfile, flags=re.M)) - {
        "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
    }  # fmt: skip
    assert {"HOST", "CDS_FRONT", "DATABASE_URL", "CDS_TRUSTED_ISSUERS"} <= named
    assert named <= known, named - known


# The image


def _instruction(dockerfile: str, name: str) -> list[str]:
    joined = dockerfile.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_the_image_runs_as_a_numeric_non_root_user_and_checks_readiness():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    [*_, user] = _instruction(dockerfile, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert _instruction(dockerfile, "FROM")[0].startswith("python:3.11-slim")
    assert any(re.search(r"\bpip install\b.* \.$", run) for run in _instruction(dockerfile, "RUN"))  # the checkout
    [healthcheck] = _instruction(dockerfile, "HEALTHCHECK")
    assert "/readyz" in healthcheck and "curl" not in healthcheck and "wget" not in healthcheck
    assert _instruction(dockerfile, "EXPOSE") == ["8080"]
    assert json.loads(_instruction(dockerfile, "ENTRYPOINT")[0]) == ["cpt64640"]
    assert json.loads(_instruction(dockerfile, "CMD")[0]) == ["serve"]
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :][:1] == ["*"] and "!service/" in ignore and "!hooks/" in ignore


def _healthcheck_command() -> list[str]:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    [healthcheck] = _instruction(dockerfile, "HEALTHCHECK")
    command: list[str] = json.loads(healthcheck.split("CMD", 1)[1])
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


# nginx and the service behind it


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Iterator[Process]:
    """The service as the image runs it: gunicorn alone, the proxy its only client."""
    server = start_service(tmp_path_factory.mktemp("instance"), CDS_FRONT="none", CDS_FORWARDED_ALLOW_IPS="127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(instance, tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (scripts/system-deps installs it)")
    upstream = instance.base_url.removeprefix("http://")
    with running_proxy(CONF, [upstream], f"127.0.0.1:{free_port()}", tmp_path_factory.mktemp("proxy")) as running:
        yield running


def test_the_healthcheck_of_the_image_passes_on_a_ready_service_only(instance):
    port = instance.base_url.rsplit(":", 1)[1]
    run = {"env": {**os.environ, "PORT": port}, "capture_output": True, "timeout": 30}
    assert subprocess.run(_healthcheck_command(), **run).returncode == 0
    run["env"]["PORT"] = str(free_port())  # nothing listens there
    assert subprocess.run(_healthcheck_command(), **run).returncode != 0


@needs_nginx
def test_the_rendered_proxy_passes_nginx_t(tmp_path):
    conf = render(CONF, ["127.0.0.1:9", "127.0.0.1:10"], "127.0.0.1:18080", tmp_path)
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"], capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()
    text = conf.read_text()
    assert "server 127.0.0.1:9 max_fails=3 fail_timeout=2s;" in text and "cds-1" not in text
    assert re.findall(r"^\s*listen (\S+)", text, re.M) == ["127.0.0.1:18080"]
    assert "/var/" not in text and text.startswith("daemon off;")
    assert "user nginx;" in CONF.read_text() and "user nginx;" not in text


def test_the_proxy_keeps_the_built_in_fronts_limits_and_error_pages():
    conf = CONF.read_text(encoding="utf-8")
    template = (ROOT / "service" / "cpt64640_cds" / "server" / "nginx.conf.template").read_text(encoding="utf-8")
    directives = ("client_header_timeout", "client_body_timeout", "send_timeout", "keepalive_timeout",
                  "large_client_header_buffers", "client_header_buffer_size", "reset_timedout_connection",
                  "proxy_request_buffering", "proxy_buffering", "server_tokens",
                  "proxy_set_header X-Forwarded-For", "proxy_set_header X-Forwarded-Proto")  # fmt: skip
    for directive in directives:
        line = re.compile(rf"^[ \t]*({directive} [^;]*;)", re.M)
        assert line.findall(conf) == line.findall(template) != [], directive
    assert f"client_max_body_size {Settings().max_body_bytes};" in conf
    timeout = front.PROXY_TIMEOUT_MARGIN + 30  # gunicorn's worker timeout + the margin, as the front
    assert f"proxy_read_timeout {timeout}s;" in conf
    # POSTs are tried again on the other instance, with one id per client request that tells the replay cache so,
    # and never after a read timeout (40 s is past the 5 s during which a request may be passed on).
    assert re.findall(r"^\s*(proxy_next_upstream\S* [^;]*);", conf, re.M) == [
        "proxy_next_upstream error timeout http_502 http_503 non_idempotent",
        "proxy_next_upstream_tries 2",
        "proxy_next_upstream_timeout 5s",
    ]
    assert re.findall(r"^\s*proxy_set_header X-Proxy-Request-Id (\S+);", conf, re.M) == ["$request_id"]
    assert front._error_pages(Settings()) in conf  # the built-in front's OperationOutcome pages, not a copy drifting


def _logged(proxy: Proxy, count: int, status: int | None = None) -> list[dict[str, Any]]:
    """The proxy's access-log entries (of one status), once there are `count`: nginx writes a request's line
    after its answer has gone, so the client can read the answer first."""
    deadline = time.monotonic() + 10
    while True:
        entries = [json.loads(line) for line in proxy.access_lines()]
        entries = [entry for entry in entries if status is None or entry["status"] == status]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)


@needs_nginx
def test_a_hook_call_through_the_proxy_is_answered_with_cards(proxy):
    response = post_hook(proxy.base_url, SIGN, fixture_request("order-sign-lfcn-left-prefetched"))
    assert response.status_code == 200
    assert response.json()["cards"]
    assert "Server" not in response.headers or "nginx/" not in response.headers["Server"]  # server_tokens off
    assert requests.get(f"{proxy.base_url}/readyz", timeout=10).status_code == 200


@needs_nginx
def test_a_body_over_the_limit_is_refused_by_the_proxy(proxy):
    body = b'{"padding": "' + b"x" * Settings().max_body_bytes + b'"}'
    response = requests.post(f"{proxy.base_url}/cds-services/{SIGN}", data=body, timeout=30)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/fhir+json"
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    refused = _logged(proxy, 1, status=413)
    assert [entry["upstream_addr"] for entry in refused] == [""]  # never passed to the instance


@needs_nginx
def test_a_slow_header_is_cut_off_by_the_proxy_while_others_are_served(proxy):
    address = ("127.0.0.1", int(proxy.base_url.rsplit(":", 1)[1]))
    body = fixture_request("order-sign-lfcn-left-prefetched")
    # More slow connections than the instance has threads (2 workers x 4): without buffering they would hold all.
    attack = SlowClients(proxy.base_url, f"/cds-services/{SIGN}", json.dumps(body).encode(), count=16, bodies=4)
    with socket.create_connection(address, timeout=20) as slow, attack:
        slow.sendall(b"POST /cds-services/x HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        for _ in range(5):
            assert post_hook(proxy.base_url, SIGN, body).status_code == 200
        deadline = time.monotonic() + 20  # the proxy's client_header_timeout is 5 s
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                closed = slow.recv(4096) == b""  # nginx closes a timed-out request without an answer
            except ConnectionResetError:  # reset_timedout_connection
                closed = True
            except TimeoutError:
                break
        assert closed
        while attack.reopened == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert attack.reopened > 0  # the proxy cut the dripping ones too, and they came back
        assert post_hook(proxy.base_url, SIGN, body).status_code == 200


@needs_nginx
def test_a_post_that_reached_no_instance_goes_to_the_other(instance, tmp_path):
    """A POST is passed on when it was never sent (the first instance is down)."""
    dead = f"127.0.0.1:{free_port()}"
    upstreams = [dead, instance.base_url.removeprefix("http://")]
    with running_proxy(CONF, upstreams, f"127.0.0.1:{free_port()}", tmp_path) as running:
        body = fixture_request("order-sign-lfcn-left-prefetched")
        for _ in range(4):
            assert post_hook(running.base_url, SIGN, body).status_code == 200
        logged = _logged(running, 4)
    assert len(logged) == 4 and all(entry["status"] == 200 for entry in logged)
    assert any(entry["upstream_addr"].startswith(dead) for entry in logged)  # tried first, then the live one
    assert not any(SIGN in line or "cds-services" in line for line in running.access_lines())  # no path logged


# PostgreSQL roles


def test_the_service_role_reads_and_writes_rows_but_changes_no_schema(postgres):
    env = {
        **os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(postgres.port), "POSTGRES_USER": "postgres",
        "CDS_DB_OWNER_PASSWORD": "owner-secret", "CDS_DB_SERVICE_PASSWORD": "service-secret",
    }  # fmt: skip
    script = DEPLOY / "postgres" / "init-roles.sh"
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    def connect(role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(f"postgresql://{role}@127.0.0.1:{postgres.port}/cpt64640", autocommit=True)

    with connect("cpt64640_owner") as owner:  # a migration's work
        owner.execute("CREATE TABLE issued_card (id bigserial PRIMARY KEY, rule text)")
    with connect("cpt64640_service") as service:
        service.execute("INSERT INTO issued_card (rule) VALUES ('line-suggestion')")
        service.execute("UPDATE issued_card SET rule = 'duplicate'")
        assert service.execute("SELECT rule FROM issued_card").fetchall() == [("duplicate",)]
        service.execute("DELETE FROM issued_card")
        for ddl in ("CREATE TABLE intruder (id int)", "DROP TABLE issued_card", "ALTER TABLE issued_card ADD x int"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                service.execute(ddl)
    assert shlex.quote("owner-secret") not in done.stdout  # passwords are not echoed
