from __future__ import annotations
from typing import Any
import pytest
import schemathesis
from hypothesis import settings, HealthCheck, given
from schemathesis.generation import GenerationMode
from cds.config import Settings
from cds.openapi import build_openapi

SCHEMA = schemathesis.openapi.from_dict(build_openapi(Settings.load({}, environ={})))
OPS = [r.ok() for r in SCHEMA.get_all_operations()]

@pytest.mark.parametrize("mode", list(GenerationMode))
@pytest.mark.parametrize("operation", OPS, ids=[o.label for o in OPS])
def test_api(app: Any, operation: Any, mode: Any) -> None:
    failures = []
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(app=app)
        try:
            case.validate_response(response)
        except Exception as exc:
            failures.append(f"{response.status_code} {str(exc)[:600]}")
    run()
    assert not failures, "\n".join(sorted(set(failures))[:5])
