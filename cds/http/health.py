"""Liveness and readiness (cds-hooks.md endpoint table)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .runtime import runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    store = runtime().store
    ready = store is not None and store.ping()
    response = jsonify({"status": "ready" if ready else "store unreachable"})
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response
