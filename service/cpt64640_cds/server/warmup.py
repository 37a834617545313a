"""Warm-up: a rehearsal hook call per service, through the whole pipeline, before a worker takes traffic.

A fresh process pays for everything the pipeline builds on first use (FHIR model classes, compiled schema
validators, text-reading indexes, regexes): about two seconds, past the request deadline. `cpt64640 serve`
rehearses once in the gunicorn master, so every worker forks with those caches built, then once more in each
worker before it accepts a connection (gunicorn's post_worker_init), which sets the app's `warm` flag that
/readyz reports.

A rehearsal is `pipeline.run` alone: no route, so nothing is written to the store, counted in /metrics or logged
as a hook call. Its requests (rehearsal/*.json, package data) are synthetic patients from fhir-fixtures/ehr with
their prefetch filled in and no fhirServer, so nothing is fetched and no thread is started: the master stays
safe to fork. What the route adds around the pipeline is readied in the worker without a hook call: its metric
series, created at zero, and Flask's request handling, by a liveness check (/healthz, which changes nothing).
"""

from __future__ import annotations

import gc
import json
import logging
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from flask import Flask

from .. import pipeline
from ..coding.lines import ModifierPolicy
from ..config import Settings
from ..knowledge.base import Knowledge
from ..logs import event
from ..protocol.declarations import CdsService
from ..protocol.prefetch.allowlist import FhirAllowlist
from ..protocol.prefetch.deadline import Deadline
from ..rules.catalogue import active_rules
from ..web import metrics
from ..web.environment import EXTENSION, Environment

REHEARSALS = Path(__file__).parent / "rehearsal"  # one request per service: <service id>.json
REHEARSAL_DEADLINE_MS = 60_000  # nothing is fetched: a bound that only a broken rehearsal can reach
REHEARSAL_DAY = date(2026, 11, 20)  # the day the rehearsal orders are written for
REHEARSAL_MAX_ENTRIES = 10  # resources in the rehearsal's largest prefetch key, and then some


def rehearse(
    services: dict[str, CdsService],
    *,
    kb: Knowledge,
    policy: ModifierPolicy,
    settings: Settings,
    allowlist: FhirAllowlist,
    logger: logging.Logger,
) -> bool:
    """One pipeline call per service with its rehearsal request; False (logged, not raised) when one fails: a
    bug in the pipeline or the rehearsal data, never the client's. The process still serves, only colder."""
    # A few resources a key: an operator's lower limit must not keep the workers cold.
    settings = replace(settings, max_prefetch_resources=max(settings.max_prefetch_resources, REHEARSAL_MAX_ENTRIES))
    try:
        for service in services.values():
            pipeline.run(
                service,
                json.loads((REHEARSALS / f"{service.id}.json").read_text()),
                kb=kb,
                policy=policy,
                settings=settings,
                deadline=Deadline.after_ms(REHEARSAL_DEADLINE_MS),
                today=REHEARSAL_DAY,
                logger=logger,
                allowlist=allowlist,
            )
    except Exception:
        logger.exception("warm-up-failed")
        return False
    return True


# A hook call allocates tens of thousands of short-lived objects (a 1,000-resource call, about 200,000). At
# CPython's default first threshold (700) each call runs hundreds of collections, each of which also scans the
# survivors of the last; raised, a call runs a few. The knowledge base and the code, loaded by now, are moved out
# of the collector's sight (gc.freeze): they live as long as the worker, and are then never rescanned.
GC_THRESHOLDS = (50_000, 20, 20)


def _settle_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def warm(app: Flask) -> bool:
    """Rehearse with the app's own parts; when that succeeds the app is warm (/readyz)."""
    environment: Environment = app.extensions[EXTENSION]
    started = time.perf_counter()
    if not rehearse(
        environment.services,
        kb=environment.kb,
        policy=environment.policy,
        settings=environment.settings,
        allowlist=environment.allowlist,
        logger=environment.logger,
    ):
        return False
    metrics.start_at_zero(environment.services, active_rules(environment.kb))
    app.test_client().get("/healthz")  # Flask's request machinery, imported and built on first use
    _settle_collector()
    environment.warm.set()
    event(environment.logger, "warm", durationMs=round((time.perf_counter() - started) * 1000))
    return True
