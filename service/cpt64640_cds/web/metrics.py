"""Prometheus metrics: requests and latency per service and status, time per pipeline stage, rule firings,
prefetch fetch timings, auth failures by reason, feedback outcomes, card records dropped, feedback the store
could not take.

Metric objects are process-wide, as prometheus_client intends. Under gunicorn `cpt64640 serve` points
PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers fork, so `/metrics` adds up every worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from ..pipeline import STAGES
from ..protocol.declarations import CdsService
from ..protocol.prefetch.completion import Source

REQUESTS = Counter("cds_requests_total", "Hook calls answered", ["service", "status"])
LATENCY = Histogram(
    "cds_request_seconds",
    "Hook call latency",
    ["service"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5),
)
# Per stage of a hook call answered 200 (pipeline.STAGES); most take well under a millisecond.
STAGE_LATENCY = Histogram(
    "cds_stage_seconds",
    "Time per pipeline stage of a hook call answered 200",
    ["service", "stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
)
RULES = Counter("cds_rule_firings_total", "Cards produced, by rule", ["rule"])
PREFETCH = Counter("cds_prefetch_keys_total", "Prefetch keys by how they were completed", ["key", "source"])
FETCH = Histogram(
    "cds_prefetch_fetch_seconds",
    "Time to fetch one prefetch key from the client's FHIR server",
    ["key"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
AUTH_FAILURES = Counter("cds_auth_failures_total", "Rejected client JWTs, by reason", ["reason"])
FEEDBACK = Counter("cds_feedback_total", "Feedback items received", ["service", "outcome"])
# "queue-full" or "store-failed": the cards went out, their records (which let feedback name a rule) did not.
CARD_RECORDS_DROPPED = Counter("cds_card_records_dropped_total", "Card records not written, by reason", ["reason"])
FEEDBACK_UNAVAILABLE = Counter("cds_feedback_unavailable_total", "Feedback posts answered 503: the store failed")


def start_at_zero(services: Mapping[str, CdsService], rule_ids: Iterable[str]) -> None:
    """Every series a successful hook call moves, created at zero before the worker takes traffic: a dashboard
    sees them from the start (Prometheus's advice for labelled metrics), and a worker's first call does not pay
    for creating them (in multiprocess mode a histogram series costs about 0.4 ms, a call moves about twenty)."""
    for service in services.values():
        REQUESTS.labels(service.id, "200")
        LATENCY.labels(service.id)
        for stage in STAGES:
            STAGE_LATENCY.labels(service.id, stage)
        for key in service.prefetch:
            FETCH.labels(key)
            for source in get_args(Source):
                PREFETCH.labels(key, source)
    for rule_id in rule_ids:
        RULES.labels(rule_id)


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
