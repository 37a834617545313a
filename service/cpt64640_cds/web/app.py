"""The app factory.

`create_app(config)` builds a fresh application (Flask tutorial style); all per-app resources (settings,
knowledge base, store, logger) hang off `app.extensions`, never off module globals, and nothing about one
request outlives it.

Every request gets an id of the service's making (never a client's header): the `X-Request-Id` response header,
`requestId` on every log line of that request, and on the server's access line (server/log.py), which reads it
and the request's route label from the WSGI environ.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..coding.lines import ModifierPolicy
from ..config import ConfigError, Settings
from ..errors import ApiError
from ..knowledge.loader import load as load_knowledge
from ..logs import REQUEST_ID, configure, event
from ..protocol.prefetch.allowlist import FhirAllowlist
from ..protocol.services import all_services
from ..security.authenticator import Authenticator
from ..security.dev_issuer import DevIssuer
from ..security.issuers import load_trusted_issuers, sandbox_preset
from ..security.proxies import TrustedProxies
from ..security.replay_cache import SharedReplayCache
from ..store.store import Store
from .environment import EXTENSION, Environment, env
from .http import api_error, cors, http_error, no_store, unexpected_error
from .playground import bp as playground
from .routes import bp, cards_dropped

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_ENVIRON = "cpt64640.request_id"
ROUTE_ENVIRON = "cpt64640.route"


def create_app(config: Settings | Mapping[str, Any] | None = None, *, announce: bool = True) -> Flask:
    """`announce`: log the settings' warnings (development mode, sandbox issuer); `cpt64640 serve` logs them
    once itself rather than once per worker."""
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    app = Flask(__name__)
    app.wsgi_app = _RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logger = configure(settings.log_level)
    if announce:
        announce_settings(settings, logger)
    store = Store(settings.store_url, timeout_ms=settings.database_timeout_ms, on_cards_dropped=cards_dropped)
    kb = load_knowledge()
    dev_issuer = _dev_issuer(settings, logger) if settings.development else None
    app.extensions[EXTENSION] = Environment(
        settings=settings,
        kb=kb,
        services=all_services(),
        store=store,
        logger=logger,
        policy=ModifierPolicy.of(kb, settings.distinct_modifier, settings.bilateral_modifier_50),
        authenticator=_authenticator(settings, store, logger, dev_issuer),
        allowlist=FhirAllowlist.from_settings(settings),
        proxies=TrustedProxies(settings.forwarded_allow_ips),  # checked by Settings
        dev_issuer=dev_issuer,
    )
    app.url_map.strict_slashes = False  # "/cds-services/" is discovery too: clients join base URLs carelessly
    app.register_blueprint(bp)
    app.register_blueprint(playground)
    app.after_request(cors)
    app.after_request(no_store)
    app.after_request(_label_route)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app


def announce_settings(settings: Settings, logger: logging.Logger) -> None:
    """The warnings the settings deserve, logged once per start."""
    if settings.development:
        event(
            logger, "authentication-off", logging.WARNING, note="CDS_AUTH=off: development only, every caller trusted"
        )
    elif settings.sandbox_issuer:
        event(logger, "sandbox-issuer-trusted", logging.WARNING, note="its private key is public: never in production")


class _RequestIds:
    """WSGI middleware: a fresh id per request, in the environ, the logging context and the response header."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        environ[REQUEST_ID_ENVIRON] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, (REQUEST_ID_HEADER, request_id)], exc_info)

        token = REQUEST_ID.set(request_id)
        try:
            return self.wsgi_app(environ, start)
        finally:
            REQUEST_ID.reset(token)


def _label_route(response: Response) -> Response:
    """The route for the access line: the matched rule, with the service id when it is one of ours; "other" for a
    path that matched nothing (the client's text)."""
    rule = request.url_rule
    label = "other"
    if rule is not None:
        service_id = (request.view_args or {}).get("service_id")
        known = isinstance(service_id, str) and service_id in env().services
        label = rule.rule.replace("<service_id>", str(service_id)) if known else rule.rule
    request.environ[ROUTE_ENVIRON] = label
    return response


def _authenticator(
    settings: Settings, store: Store, logger: logging.Logger, dev_issuer: DevIssuer | None
) -> Authenticator | None:
    replay_cache = SharedReplayCache(store, settings.replay_outage, logger)
    if settings.development:
        # The playground's issuer alone, and only here: it is never trusted with CDS_AUTH=required.
        return Authenticator(dev_issuer.trusted(), replay_cache=replay_cache) if dev_issuer else None
    issuers = {}
    try:
        if settings.trusted_issuers:
            issuers.update(load_trusted_issuers(settings.trusted_issuers))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CDS_TRUSTED_ISSUERS: {exc}") from None
    if settings.sandbox_issuer:
        issuers.update(sandbox_preset())
    authenticator = Authenticator(issuers, replay_cache=replay_cache)
    authenticator.warm()
    return authenticator


def _dev_issuer(settings: Settings, logger: logging.Logger) -> DevIssuer | None:
    """The playground's signing key, in the data directory. Without it development mode still trusts every
    caller; only the playground's signed calls are unavailable, which the warning says."""
    try:
        return DevIssuer.load_or_create(settings.state_dir)
    except (OSError, ValueError) as exc:
        event(
            logger,
            "playground-key-unavailable",
            logging.WARNING,
            path=str(settings.state_dir),
            problem=type(exc).__name__,
        )
        return None
