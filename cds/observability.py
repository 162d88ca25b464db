"""Structured JSON logs: one line per request, never PHI (hookInstance, ids, timings, hashes)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from flask import Flask, Response, g, request

from . import metrics
from .config import Settings

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_ENCODER = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={...}` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,  # which gunicorn worker; operators correlate with /metrics
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = record.exc_info[0].__name__
        try:
            return _ENCODER.encode(payload).decode()
        except (TypeError, UnicodeEncodeError):  # a lone surrogate has no UTF-8 form
            return json.dumps(payload, default=str)


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger("cds")
    root.setLevel(settings.log_level.upper())
    if not any(getattr(h, "_calf_cds", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._calf_cds = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False


def quiet_development_server() -> None:
    """werkzeug's own lines (`serve --dev`) as JSON, and only its warnings and errors: every
    request already has its `cds.access` line."""
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_log.setLevel(logging.WARNING)
    werkzeug_log.handlers = [
        h for h in logging.getLogger("cds").handlers if getattr(h, "_calf_cds", False)
    ]
    werkzeug_log.propagate = False


def install_request_logging(app: Flask) -> None:
    access = logging.getLogger("cds.access")

    @app.before_request
    def _start() -> None:
        g.request_id = _client_request_id(request.headers.get("X-Request-Id")) or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        duration_ms = seconds * 1000
        route = request.url_rule.rule if request.url_rule else "(unmatched)"
        response.headers["X-Request-Id"] = g.get("request_id", "")
        metrics.observe_request(
            service=g.get("service_id"), route=route, status=response.status_code, seconds=seconds
        )
        access.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": route,
                "service": g.get("service_id"),
                "hook_instance": g.get("hook_instance"),
                "status": response.status_code,
                "duration_ms": round(duration_ms, 2),
                "rules": g.get("rule_ids", []),
                "patient_hash": g.get("patient_hash") or None,
            },
        )
        return response


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _client_request_id(raw: str | None) -> str | None:
    """A caller's X-Request-Id when it is a plain token; anything else (free text that could
    carry PHI, or a huge value) is replaced by our own id."""
    return raw if raw is not None and _REQUEST_ID.fullmatch(raw) else None
