"""calf-cds: a CDS Hooks 2.0 service that triages calf and lower-leg pain from FHIR R4 data.

`create_app()` is the only way to get an app (gunicorn serves `cds:create_app()`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask

if TYPE_CHECKING:
    from .config import Settings
    from .service import Store as ServiceStore

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from defaults, `CDS_*` environment variables, then `config` overrides.

    `config` may also carry ready-made collaborators for tests: `store` (a cds.store.Store)
    and `fetcher` (see cds.service.Fetcher).
    """
    from .config import Settings, misspelled_settings
    from .http import BLUEPRINTS
    from .http.errors import install_error_handlers
    from .http.language import install_languages
    from .http.runtime import EXTENSION_KEY, Runtime
    from .observability import configure_logging, install_request_logging
    from .service import Deps
    from .store import Store

    settings = Settings.load(config)
    configure_logging(settings)
    for variable, meant in misspelled_settings(os.environ):
        logging.getLogger("cds.config").warning(
            "%s is not a calf-cds setting and is ignored; did you mean %s?", variable, meant
        )
    store = settings.extra.get("store") or Store.open(settings.database_url, settings=settings)
    fetcher = settings.extra.get("fetcher")
    if fetcher is None:
        from .fhir.fetch import fetch_queries

        fetcher = fetch_queries
    deps = Deps(settings=settings, store=store, fetcher=fetcher)
    if "clock" in settings.extra:
        deps.clock = settings.extra["clock"]

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None  # cds.http.body enforces the limit with a clear 413
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # A doubled slash is an unknown path (404 OperationOutcome), not a 308 HTML redirect that
    # EHR clients do not follow for a POST (cds-hooks.md "Errors"). Set before any rule binds.
    app.url_map.merge_slashes = False
    app.extensions[EXTENSION_KEY] = Runtime(settings=settings, deps=deps, store=store)
    install_error_handlers(app)
    install_languages(app, settings)
    install_request_logging(app)
    _install_security(app, settings, store)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    from .smart.views import install_smart

    install_smart(app, settings)  # the red-flag check app: off without a client id
    return app


def _install_security(app: Flask, settings: Settings, store: ServiceStore) -> None:
    """CORS first (preflight needs no token), then the JWT guard (cds.http.auth)."""
    from .http.auth import install_auth, install_cors

    install_cors(app, settings)
    install_auth(app, settings, store)
