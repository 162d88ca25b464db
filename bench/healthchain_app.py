"""A minimal HealthChain 0.16 CDS Hooks service: one fixed card for patient-view.

The baseline `make bench` sets beside calf-cds. It is HealthChain's documented pattern (a
`HealthChainAPI` app, a `CDSHooksService` with one `@cds.hook` handler, `register_service`)
and runs in HealthChain's own venv (bench/healthchain_setup.py), served the way
`healthchain serve` serves an app (`python -m uvicorn MODULE:app`) with `--workers` added:

    .venv-healthchain/bin/python -m uvicorn bench.healthchain_app:app --app-dir . --workers 2

The hook is `POST /cds/cds-services/calf-pain-triage` (HealthChain's default base path) and
readiness is its `GET /health`. FastAPI validates the request into HealthChain's `CDSRequest`
(`prefetch` stays a plain dict); the handler does no work beyond building its one card.
"""

from __future__ import annotations

from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.models import Card, CDSRequest, CDSResponse, Source

SERVICE_ID = "calf-pain-triage"

app = HealthChainAPI(title="calf-cds benchmark baseline")
cds = CDSHooksService()


@cds.hook("patient-view", id=SERVICE_ID)
def patient_view(request: CDSRequest) -> CDSResponse:
    """The same card for every call."""
    return CDSResponse(
        cards=[
            Card(
                summary="Benchmark card: no decision support was computed",
                indicator="info",
                source=Source(label="calf-cds bench (HealthChain baseline)"),
            )
        ]
    )


app.register_service(cds)
