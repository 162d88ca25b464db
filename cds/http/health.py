"""Liveness and readiness (cds-hooks.md endpoint table).

`/healthz`: the process answers. `/readyz`: the store takes a write now (`Store.ping` commits a
heartbeat), so a database that is down, read-only, full, without its tables, or a SQLite file
deleted or replaced under the service makes it 503.
"""

from __future__ import annotations

from flask import Blueprint, Response

from ..core.i18n import N_
from ..errors import StoreUnavailable
from .jsonout import json_response
from .runtime import runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """200 when the store takes a write; otherwise 503 as an OperationOutcome like every error."""
    store = runtime().store
    if store is None or not store.ping():
        raise StoreUnavailable(N_("not ready: the store cannot take a write"), retry_after_s=5)
    return json_response({"status": "ready"})
