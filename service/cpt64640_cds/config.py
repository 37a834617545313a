"""Settings: one frozen object built from environment variables (or a mapping in tests).

Every variable is documented in README.md with its default; this module is the only reader of the
environment, so the rest of the code receives a `Settings` and never touches `os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A configuration value is malformed; start-up stops with this message."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    # Where state lives (the embedded SQLite file): empty means `default_data_dir()`.
    data_dir: str = ""
    database_url: str = ""  # empty: the SQLite file `cpt64640.sqlite3` in the data directory
    # Issued-card and feedback rows older than this are deleted by `cpt64640 db prune` (and, for the embedded
    # SQLite file, by serve at each start).
    retention_days: int = 365
    log_level: str = "INFO"
    # One budget for the whole hook call; each FHIR fetch also has its own connect/read timeouts.
    request_deadline_ms: int = 2000
    fhir_connect_timeout_ms: int = 500
    fhir_read_timeout_ms: int = 1500
    fhir_max_pages: int = 5
    fhir_max_call_bytes: int = 8 * 1024 * 1024  # one budget for every FHIR response of a call, all keys and pages
    fhir_fetch_threads: int = 40  # per worker, shared by every call: 4 request threads x 10 prefetch keys
    max_body_bytes: int = 5 * 1024 * 1024
    cors_origins: tuple[str, ...] = ("*",)
    # Modifier policy: the "distinct service" modifier put on the 2nd+ line with the same code and side,
    # and the payer profile that reports left + right of one nerve as one line with modifier 50.
    distinct_modifier: str = "59"
    bilateral_modifier_50: bool = False
    # Who may call us. "required" is the production default; "off" is local development only (make run).
    auth: str = "required"
    trusted_issuers: str = ""  # path to the trusted-issuers JSON file (docs/security.md)
    sandbox_issuer: bool = False  # trust the public CDS Hooks sandbox key: its private key is public, never prod
    # The base URL(s) clients call: the JWT audience is one of them + the path, never the request's Host.
    public_base_urls: tuple[str, ...] = ()
    # When the shared replay store (the database) fails: "closed" answers 503, "open" falls back to a
    # per-worker memory cache and logs it.
    replay_outage: str = "closed"
    # Who sits in front: "auto" starts nginx as a buffering front when it is installed, "nginx" insists,
    # "none" serves gunicorn directly (a buffering proxy must then be provided: docs/reliability.md).
    front: str = "auto"
    forwarded_allow_ips: tuple[str, ...] = ()  # proxies whose X-Forwarded-* headers gunicorn believes
    max_requests: int = 2000  # a worker is recycled after this many requests (with jitter), bounding its memory
    database_timeout_ms: int = 1000  # connect, statement and pool wait of the store
    max_feedback_items: int = 1000  # per feedback POST
    # Where we may send the client's token: FHIR server URL prefixes. Empty: loopback in development mode,
    # nothing (prefetch only) when authentication is required.
    fhir_allowlist: tuple[str, ...] = ()
    max_prefetch_resources: int = 5000  # per prefetch key, after paging
    max_json_depth: int = 64
    # The browser playground at `/`: "auto" serves it in development mode only, "on" also with authentication
    # required (it then holds no patient data of its own: the browser talks to the FHIR server), "off" never.
    playground: str = "auto"
    # The FHIR server the playground offers first; `cpt64640 dev` (make run) sets it to its fixture server.
    playground_fhir_url: str = ""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, serving: bool = True, **overrides: object
    ) -> Settings:
        """`serving=False` for the offline commands (reports, `db`, replay): they take no client calls, so
        the client-authentication settings are not needed."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = _ENV_NAMES[f.name]
            if name in env and env[name] != "":
                values[f.name] = _convert(name, env[name], f.type)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check(serving=serving)
        return settings

    @property
    def development(self) -> bool:
        return self.auth == "off"

    @property
    def playground_enabled(self) -> bool:
        return self.playground == "on" or (self.playground == "auto" and self.development)

    @property
    def state_dir(self) -> Path:
        return Path(self.data_dir).expanduser().resolve() if self.data_dir else default_data_dir()

    @property
    def store_url(self) -> str:
        """The database the store uses: DATABASE_URL, or the SQLite file in the data directory."""
        return self.database_url or "sqlite:///" + str(self.state_dir / "cpt64640.sqlite3")

    def check(self, *, serving: bool = True) -> None:
        if self.auth not in ("required", "off"):
            raise ConfigError("CDS_AUTH must be required or off")
        if serving and self.auth == "required" and not (self.trusted_issuers or self.sandbox_issuer):
            raise ConfigError(
                "CDS_AUTH=required needs CDS_TRUSTED_ISSUERS (a trusted-issuers JSON file); "
                "for local development set CDS_AUTH=off"
            )
        if serving and self.auth == "required" and not self.public_base_urls:
            raise ConfigError(
                "CDS_AUTH=required needs CDS_PUBLIC_BASE_URL (the base URL, or comma-separated URLs, clients call): "
                "the JWT audience is never taken from the request's Host header"
            )
        for base in self.public_base_urls:
            parts = urlsplit(base)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ConfigError(f"CDS_PUBLIC_BASE_URL: {base!r} must be an http(s) base URL")
        for proxy in set(self.forwarded_allow_ips) - {"*"}:  # as gunicorn and security/proxies.py read them
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"CDS_FORWARDED_ALLOW_IPS: not an IP address or network: {proxy!r}") from None
        if self.replay_outage not in ("closed", "open"):
            raise ConfigError("CDS_REPLAY_OUTAGE must be closed or open")
        if self.front not in ("auto", "nginx", "none"):
            raise ConfigError("CDS_FRONT must be auto, nginx or none")
        if not self.development:
            for prefix in self.fhir_allowlist:
                if not prefix.startswith("https://"):
                    raise ConfigError(f"CDS_FHIR_ALLOWLIST: {prefix!r} must be https outside development mode")
        if self.distinct_modifier not in ("59", "XS"):
            raise ConfigError("CDS_DISTINCT_MODIFIER must be 59 or XS")
        for name in ("request_deadline_ms", "fhir_connect_timeout_ms", "fhir_read_timeout_ms", "database_timeout_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{_ENV_NAMES[name]} must be a positive number of milliseconds")
        for name in (
            "fhir_max_call_bytes",
            "fhir_fetch_threads",
            "max_requests",
            "max_feedback_items",
            "retention_days",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{_ENV_NAMES[name]} must be at least 1")
        if self.fhir_max_pages < 1:
            raise ConfigError("CDS_FHIR_MAX_PAGES must be at least 1")
        if self.playground not in ("auto", "on", "off"):
            raise ConfigError("CDS_PLAYGROUND must be auto, on or off")
        if self.playground_fhir_url:
            parts = urlsplit(self.playground_fhir_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"CDS_PLAYGROUND_FHIR_URL: {self.playground_fhir_url!r} must be an http(s) URL")
        if not self.cors_origins:
            raise ConfigError("CDS_CORS_ORIGINS must name at least one origin (or *)")


def default_data_dir() -> Path:
    """`var/` of the checkout when the package runs from one (an editable install, `make run`); otherwise the
    per-user state folder of the XDG base-directory convention, whatever directory a command runs in."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "service" / "cpt64640_cds").is_dir():
        return checkout / "var"
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "cpt64640"


_ENV_NAMES = {
    "host": "HOST",
    "port": "PORT",
    "workers": "WORKERS",
    "data_dir": "CDS_DATA_DIR",
    "database_url": "DATABASE_URL",
    "retention_days": "CDS_RETENTION_DAYS",
    "log_level": "LOG_LEVEL",
    "request_deadline_ms": "CDS_REQUEST_DEADLINE_MS",
    "fhir_connect_timeout_ms": "CDS_FHIR_CONNECT_TIMEOUT_MS",
    "fhir_read_timeout_ms": "CDS_FHIR_READ_TIMEOUT_MS",
    "fhir_max_pages": "CDS_FHIR_MAX_PAGES",
    "fhir_max_call_bytes": "CDS_FHIR_MAX_CALL_BYTES",
    "fhir_fetch_threads": "CDS_FHIR_FETCH_THREADS",
    "max_body_bytes": "CDS_MAX_BODY_BYTES",
    "cors_origins": "CDS_CORS_ORIGINS",
    "distinct_modifier": "CDS_DISTINCT_MODIFIER",
    "bilateral_modifier_50": "CDS_BILATERAL_MODIFIER_50",
    "auth": "CDS_AUTH",
    "trusted_issuers": "CDS_TRUSTED_ISSUERS",
    "sandbox_issuer": "CDS_SANDBOX_ISSUER",
    "public_base_urls": "CDS_PUBLIC_BASE_URL",
    "replay_outage": "CDS_REPLAY_OUTAGE",
    "front": "CDS_FRONT",
    "forwarded_allow_ips": "CDS_FORWARDED_ALLOW_IPS",
    "max_requests": "CDS_MAX_REQUESTS",
    "database_timeout_ms": "CDS_DATABASE_TIMEOUT_MS",
    "max_feedback_items": "CDS_MAX_FEEDBACK_ITEMS",
    "fhir_allowlist": "CDS_FHIR_ALLOWLIST",
    "max_prefetch_resources": "CDS_MAX_PREFETCH_RESOURCES",
    "max_json_depth": "CDS_MAX_JSON_DEPTH",
    "playground": "CDS_PLAYGROUND",
    "playground_fhir_url": "CDS_PLAYGROUND_FHIR_URL",
}


def _convert(name: str, raw: str, annotation: object) -> object:
    kind = str(annotation)
    if kind == "bool":
        if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{name} must be true or false, got {raw!r}")
        return raw.strip().lower() in ("true", "1", "yes")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw.strip()
