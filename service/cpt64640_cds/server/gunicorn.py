"""`cpt64640 serve`: the CDS service under gunicorn, behind the nginx front when there is one (CDS_FRONT).

With the front, nginx listens on HOST:PORT and gunicorn on a unix socket in a private run folder (mode 0700)
that nothing else can reach; gunicorn's arbiter starts nginx once it listens, stops it when it stops, and
stops (exit status 1) when nginx dies. Without it, gunicorn listens on HOST:PORT itself.

The master imports the app's code, loads the knowledge base and rehearses a hook call (server/warmup.py) before
forking, so every worker, recycled ones included, starts with those caches built and shared. The app itself
(database engine, card writer, JWKS fetches: connections and threads) is built in each worker after the fork,
not preloaded (gunicorn's preload_app would build them in the master and share its connections and locks with
every child), and each worker rehearses once more before it accepts a connection.

Everything serve writes to stderr is a JSON line (logs.py): its own events, gunicorn's messages and an access
line per request (server/log.py), nginx's alerts (server/front.py), libraries' warnings. The one line on stdout
is for the person who started it: the rule set and the discovery URL. The temporary folders serve creates (the
run folder, and the metrics folder unless PROMETHEUS_MULTIPROC_DIR names one) are removed when it stops."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

from ..config import ConfigError, Settings
from ..logs import LOGGER_NAME, capture_all, configure, event
from . import front as nginx

WORKER_TIMEOUT = 30  # s: a worker silent this long is killed and replaced
GRACEFUL_TIMEOUT = 10  # s: on stop, calls in flight get this long (each is bounded by the request deadline)
FRONT_EXITED = 1  # serve's exit status when nginx died under it


def serve(settings: Settings) -> int:
    """Run the service until SIGTERM or SIGINT (exit status 0), or until nginx dies or cannot start (1)."""
    created = _metrics_dir()
    serving = os.getpid()
    try:
        return _serve(settings)
    finally:
        # Workers leave gunicorn's loop by SystemExit, through this frame too: only serve's own process cleans up.
        if created and os.getpid() == serving:
            shutil.rmtree(created, ignore_errors=True)


def _serve(settings: Settings) -> int:
    # After the metrics folder is set: prometheus_client reads it when it is first imported.
    from prometheus_client import multiprocess as prometheus_multiprocess

    from ..coding.lines import ModifierPolicy
    from ..knowledge.loader import load
    from ..protocol.prefetch.allowlist import FhirAllowlist
    from ..protocol.services import all_services
    from ..store.store import Store
    from ..web.app import announce_settings, create_app
    from .warmup import rehearse, warm

    capture_all()
    logger = configure(settings.log_level)
    announce_settings(settings, logger)  # once, here: not in every worker's create_app
    binary = nginx.find_nginx(settings)
    if binary is None and settings.front == "auto":
        event(
            logger,
            "front-missing",
            logging.WARNING,
            note="nginx not found: gunicorn serves HOST:PORT alone, and slow clients can hold all its threads; "
            "install nginx or put a buffering proxy in front (docs/reliability.md)",
        )
    kb = load()  # fail before forking workers when a knowledge file is broken
    Store(settings.store_url, timeout_ms=settings.database_timeout_ms).close()  # tables, before workers race
    _prune_embedded(settings, logger)
    policy = ModifierPolicy.of(kb, settings.distinct_modifier, settings.bilateral_modifier_50)
    rehearse(
        all_services(),
        kb=kb,
        policy=policy,
        settings=settings,
        allowlist=FhirAllowlist.from_settings(settings),
        logger=logger,
    )
    discovery = f"http://{settings.host}:{settings.port}/cds-services"
    print(f"cpt64640-cds rule set {kb.version}: CDS Hooks discovery at {discovery}", flush=True)
    application = Service(
        settings, binary, lambda: create_app(settings, announce=False), prometheus_multiprocess.mark_process_dead, warm
    )
    event(logger, "serving", front="nginx" if binary else "none", workers=settings.workers, discovery=discovery)
    return application.serve()


def _prune_embedded(settings: Settings, logger: logging.Logger) -> None:
    """Retention for the embedded SQLite file, which nobody else maintains: at each start, like its upgrade.
    A shared database is pruned by `cpt64640 db prune` on a schedule (deploy/), not by every instance."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from ..store.schema import prune

    if make_url(settings.store_url).get_backend_name() != "sqlite":
        return
    try:
        deleted = prune(settings.store_url, settings.retention_days, timeout_ms=settings.database_timeout_ms)
    except SQLAlchemyError as exc:  # not fatal: the rows wait for the next start
        event(logger, "prune-skipped", logging.WARNING, error=type(exc).__name__)
    else:
        event(logger, "pruned", days=settings.retention_days, **deleted)


def _metrics_dir() -> Path | None:
    """Prometheus multi-process mode: every worker writes its metrics to a shared folder that /metrics sums.
    Returns the folder when serve created it (not when PROMETHEUS_MULTIPROC_DIR named one)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    created = tempfile.mkdtemp(prefix="cpt64640-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    return Path(created)


class Service(BaseApplication):
    """gunicorn configured for the service; `nginx` is the front's binary, or None to listen on HOST:PORT;
    `warm(app)` readies a worker's app before the worker accepts connections."""

    def __init__(
        self,
        settings: Settings,
        nginx_binary: str | None,
        app_factory: Callable[[], Any],
        worker_exited: Callable[[int], None],
        warm: Callable[[Any], object],
    ) -> None:
        self.settings = settings
        self.nginx_binary = nginx_binary
        self.app_factory = app_factory
        self.worker_exited = worker_exited
        self.warm = warm
        self.run_dir = Path(tempfile.mkdtemp(prefix="cpt64640-serve-")) if nginx_binary else None
        self.front: nginx.Front | None = None
        super().__init__()

    @property
    def upstream(self) -> Path | None:
        """gunicorn's unix socket behind the front."""
        return self.run_dir / "gunicorn.sock" if self.run_dir else None

    def load_config(self) -> None:
        settings, cfg = self.settings, self.cfg
        cfg.set("bind", f"unix:{self.upstream}" if self.upstream else f"{settings.host}:{settings.port}")
        cfg.set("workers", settings.workers)
        cfg.set("worker_class", "cpt64640_cds.server.worker.OutcomeWorker")
        cfg.set("threads", 4)
        cfg.set("timeout", WORKER_TIMEOUT)
        cfg.set("graceful_timeout", GRACEFUL_TIMEOUT)
        # Recycling bounds a worker's memory; the jitter keeps the workers from restarting together.
        cfg.set("max_requests", settings.max_requests)
        cfg.set("max_requests_jitter", max(1, settings.max_requests // 10))
        # What gunicorn reads before the app: nginx's limits are the same (8 KB a line, 431 / 414 beyond).
        cfg.set("limit_request_line", 8190)
        cfg.set("limit_request_fields", 100)
        cfg.set("limit_request_field_size", 8190)
        # Forwarded headers: only X-Forwarded-Proto, only from the proxies listed (none by default; gunicorn
        # always trusts a unix-socket peer, which only the front can be), and no WSGI variables from headers.
        cfg.set("forwarded_allow_ips", ",".join(settings.forwarded_allow_ips))
        cfg.set("secure_scheme_headers", {"X-FORWARDED-PROTO": "https"})
        cfg.set("forwarder_headers", "")
        cfg.set("logger_class", "cpt64640_cds.server.log.JsonLogger")  # JSON lines, and our access line
        cfg.set("accesslog", None)  # gunicorn's own access log: JsonLogger writes ours without it
        cfg.set("loglevel", settings.log_level.lower())
        if "control_socket_disable" in cfg.settings:  # gunicorn 27+: one shared socket path per user
            cfg.set("control_socket_disable", True)
        cfg.set("child_exit", lambda _arbiter, worker: self.worker_exited(worker.pid))
        # In the worker, after the app is built and before it accepts a connection.
        cfg.set("post_worker_init", lambda worker: self.warm(worker.wsgi))
        cfg.set("when_ready", self._start_front)
        cfg.set("on_exit", self._stop_front)

    def load(self) -> Any:
        """In each worker. A failure is logged here and ends the worker as one that could not boot (the arbiter
        then stops): gunicorn would also print the exception's text, plain, on stderr."""
        logger = logging.getLogger(LOGGER_NAME)
        try:
            return self.app_factory()
        except ConfigError as exc:  # our words, naming a setting
            event(logger, "worker-boot-failed", logging.ERROR, message=str(exc))
        except Exception:
            logger.exception("worker-boot-failed")
        sys.exit(Arbiter.WORKER_BOOT_ERROR)

    def serve(self) -> int:
        """gunicorn's run loop; returns only when the front could not start (the arbiter exits otherwise)."""
        try:
            _Arbiter(self).run()
        except nginx.FrontError as exc:
            event(logging.getLogger(LOGGER_NAME), "front-failed", logging.ERROR, message=str(exc))
            self._remove_run_dir()
            return FRONT_EXITED
        return 0

    def _start_front(self, _arbiter: Arbiter) -> None:
        if self.nginx_binary and self.run_dir and self.upstream:
            self.front = nginx.start(self.nginx_binary, self.settings, self.run_dir, self.upstream, WORKER_TIMEOUT)

    def _stop_front(self, _arbiter: Arbiter) -> None:
        if self.front:
            self.front.stop(grace=GRACEFUL_TIMEOUT)
        self._remove_run_dir()

    def _remove_run_dir(self) -> None:
        if self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


class _Arbiter(Arbiter):
    """gunicorn's arbiter, which stops with its front: nginx stops taking connections first, and gunicorn
    stops when nginx is gone."""

    app: Service

    def manage_workers(self) -> None:  # every turn of the arbiter's loop, at least once a second
        if self.app.front:
            self.app.front.relay_log()
            if self.app.front.exited():
                raise HaltServer("the nginx front exited", FRONT_EXITED)
        super().manage_workers()

    def halt(self, reason: str | None = None, exit_status: int = 0) -> None:
        if self.app.front:
            self.app.front.stop_accepting()
        super().halt(reason, exit_status)
