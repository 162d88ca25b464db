"""`GET /metrics`: Prometheus text exposition, summed over gunicorn workers (cds.metrics)."""

from __future__ import annotations

from flask import Blueprint, Response

from .. import metrics

blueprint = Blueprint("monitoring", __name__)


@blueprint.get("/metrics")
def metrics_view() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, status=200, content_type=content_type)
