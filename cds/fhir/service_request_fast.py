"""The draft ServiceRequest, fast: the part fixed by the route validated once, then completed.

`resources.service_request` builds and dumps a whole fhir.resources ServiceRequest for every
suggestion, which a profile of the served worker showed to be costly. What varies per request is
only the subject and the reasonReference strings, so the fixed part (status, intent, priority,
category, code, performerType) is built once per route and priority by that same function, and
each Reference is validated by fhir.resources as it is added. tests/test_service_request_fast.py
proves the result equals the plain path's.
"""

from __future__ import annotations

import functools
from typing import Any

from fhir.resources.R4B.reference import Reference

from ..core.model import Code, Referral
from .resources import service_request

_PLACEHOLDER = "Patient/placeholder"


@functools.lru_cache(maxsize=256)
def _fixed(
    code: Code, category: Code, performer: Code | None, priority: str | None
) -> dict[str, Any]:
    referral = Referral(code, category, performer, priority, _PLACEHOLDER, ())
    return service_request(referral)


@functools.lru_cache(maxsize=4096)
def _reference(reference: str) -> dict[str, Any]:
    return Reference(reference=reference).model_dump(mode="json", exclude_none=True)


def service_request_fast(referral: Referral) -> dict[str, Any]:
    """`resources.service_request(referral)`, built from a validated fixed part."""
    fixed = _fixed(referral.code, referral.category, referral.performer, referral.priority)
    out = {
        key: _reference(referral.subject) if key == "subject" else value
        for key, value in fixed.items()
    }
    if referral.reasons:  # the last element fhir.resources writes
        out["reasonReference"] = [_reference(r) for r in referral.reasons]
    return out
