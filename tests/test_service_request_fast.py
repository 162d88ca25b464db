"""The fast draft ServiceRequest equals the plain fhir.resources one, field for field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds.core.model import Referral
from cds.core.routes import PROFILES, wire_code
from cds.fhir.resources import problems, service_request
from cds.fhir.service_request_fast import service_request_fast

ROUTES = sorted(
    {(profile, key) for profile, table in PROFILES.items() for key, r in table.items() if r.code}
)
references = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s)


@pytest.mark.parametrize(("profile", "key"), ROUTES)
@pytest.mark.parametrize("priority", ["stat", "urgent", "routine"])
def test_every_route_and_priority_gives_the_plain_paths_resource(
    profile: str, key: str, priority: str
) -> None:
    route = PROFILES[profile][key]
    assert route.code is not None
    referral = Referral(
        wire_code(route.code, "http://calf-cds.example/fhir"),
        route.category,
        route.performer,
        priority,
        "Patient/p1",
        ("Observation/o1", "Condition/c1"),
    )

    fast = service_request_fast(referral)

    assert json.dumps(fast) == json.dumps(service_request(referral))
    assert problems(fast) == []


@given(subject=references, reasons=st.lists(references, max_size=4))
def test_any_subject_and_reasons_give_the_plain_paths_resource(
    subject: str, reasons: list[str]
) -> None:
    route = PROFILES["default"]["dvt-pathway"]
    assert route.code is not None
    referral = Referral(
        route.code, route.category, route.performer, "urgent", subject, tuple(reasons)
    )

    assert json.dumps(service_request_fast(referral)) == json.dumps(service_request(referral))
