"""The app factory.

`create_app(config)` builds a fresh application (Flask tutorial style); all per-app resources (settings,
knowledge base, store, logger) hang off `app.extensions`, never off module globals, and nothing about one
request outlives it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from ..coding.lines import ModifierPolicy
from ..config import ConfigError, Settings
from ..errors import ApiError
from ..knowledge.loader import load as load_knowledge
from ..logs import configure, event
from ..protocol.prefetch.allowlist import FhirAllowlist
from ..protocol.services import all_services
from ..security.authenticator import Authenticator
from ..security.issuers import load_trusted_issuers, sandbox_preset
from ..security.replay_cache import SharedReplayCache
from ..store.store import Store
from .environment import EXTENSION, Environment
from .http import api_error, cors, http_error, no_store, unexpected_error
from .routes import bp, cards_dropped


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logger = configure(settings.log_level)
    store = Store(settings.store_url, timeout_ms=settings.database_timeout_ms, on_cards_dropped=cards_dropped)
    kb = load_knowledge()
    app.extensions[EXTENSION] = Environment(
        settings=settings,
        kb=kb,
        services=all_services(),
        store=store,
        logger=logger,
        policy=ModifierPolicy.of(kb, settings.distinct_modifier, settings.bilateral_modifier_50),
        authenticator=_authenticator(settings, store, logger),
        allowlist=FhirAllowlist.from_settings(settings),
    )
    app.url_map.strict_slashes = False  # "/cds-services/" is discovery too: clients join base URLs carelessly
    app.register_blueprint(bp)
    app.after_request(cors)
    app.after_request(no_store)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app


def _authenticator(settings: Settings, store: Store, logger: logging.Logger) -> Authenticator | None:
    if settings.development:
        event(
            logger, "authentication-off", logging.WARNING, note="CDS_AUTH=off: development only, every caller trusted"
        )
        return None
    issuers = {}
    try:
        if settings.trusted_issuers:
            issuers.update(load_trusted_issuers(settings.trusted_issuers))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CDS_TRUSTED_ISSUERS: {exc}") from None
    if settings.sandbox_issuer:
        event(logger, "sandbox-issuer-trusted", logging.WARNING, note="its private key is public: never in production")
        issuers.update(sandbox_preset())
    authenticator = Authenticator(issuers, replay_cache=SharedReplayCache(store, settings.replay_outage, logger))
    authenticator.warm()
    return authenticator
