"""CDS Hooks 2.0 links with the red-flag check app enabled: every sample sent over loopback.

The service now sends `smart` links (issue 20); these tests prove the Link requirements on
`appContext` (cds-hooks_2.0:144-146) and that a smart link goes exactly on the cards that list
items the app can complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import SAMPLE_CLOCK, SAMPLES, load_json, serving

from cds import create_app
from cds.core.findings import FINDINGS

BASE = "https://cds.hospital.example"
SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict[str, Any]]]:
    tmp: Path = tmp_path_factory.mktemp("smart-links")
    application = create_app(
        {
            "database_url": f"sqlite:///{tmp / 'links.sqlite3'}",
            "evaluation_time": SAMPLE_CLOCK,
            "auth_mode": "off",
            "public_base_url": BASE,
            "smart_client_id": "calf-cds",
            "smart_session_dir": str(tmp / "sessions"),
        }
    )
    store = application.extensions["calf-cds"].store
    store.upgrade()
    found: list[tuple[str, dict[str, Any]]] = []
    try:
        with serving(application) as url, httpx.Client(base_url=url, timeout=20) as http:
            for path in sorted(SAMPLES.glob("*.json")):
                body = load_json(path)
                answer = http.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
                assert answer.status_code == 200, path.name
                found += [(path.name, card) for card in answer.json()["cards"]]
    finally:
        store.close()
    return found


def smart_links(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [link for link in card.get("links", []) if link["type"] == "smart"]


def test_a_smart_link_goes_on_exactly_the_cards_with_items_to_complete(
    cards: list[tuple[str, dict[str, Any]]],
) -> None:
    linked = 0
    for name, card in cards:
        missing = card["extension"]["example.calf-cds"].get("missingItems", [])
        links = smart_links(card)
        assert len(links) == (1 if missing else 0), name
        if links:
            (link,) = links
            assert link["label"] == "Complete the red-flag check", name
            assert link["url"] == f"{BASE}/smart/launch", name
            linked += 1
    assert linked > 40


@pytest.mark.requirement("cds-hooks_2.0:144", "cds-hooks_2.0:145", "cds-hooks_2.0:146")
def test_app_context_is_a_json_string_sent_only_on_smart_links(
    cards: list[tuple[str, dict[str, Any]]],
) -> None:
    for name, card in cards:
        for link in card.get("links", []):
            if link["type"] == "absolute":
                assert "appContext" not in link, name  # optional, and only for smart links
                continue
            assert isinstance(link["appContext"], str), name
            context = json.loads(link["appContext"])
            own = card["extension"]["example.calf-cds"]
            assert context["ruleId"] == own["ruleId"], name
            assert context["findings"] == own["missingItems"], name
            assert set(context["findings"]) <= set(FINDINGS), name
            assert isinstance(context["hookInstance"], str), name


def test_smart_links_carry_their_context_in_app_context_not_the_url(
    cards: list[tuple[str, dict[str, Any]]],
) -> None:
    """cds-hooks_2.0:140 (MAY put context in the URL) is not used: the EHR adds iss and launch
    to the launch URL, and the card's context travels as appContext."""
    for name, card in cards:
        for link in smart_links(card):
            parts = urlsplit(link["url"])
            assert (parts.scheme, parts.query, parts.fragment) == ("https", "", ""), name


def test_a_card_that_lists_only_lab_values_gets_no_link(
    cards: list[tuple[str, dict[str, Any]]],
) -> None:
    """Potassium, TSH, CK or an ABI are not recorded by a clinician at the bedside: a card
    that lists only such items offers no red-flag check."""
    cramps = [
        card
        for name, card in cards
        if name == "cramps-secondary-hypothyroidism.json"
        and card["extension"]["example.calf-cds"]["ruleId"] == "R-CRAMP-SECONDARY"
    ]
    (card,) = cramps
    own = card["extension"]["example.calf-cds"]

    assert own["notRecorded"]  # the card lists lab values
    assert "missingItems" not in own
    assert smart_links(card) == []


def test_the_api_documents_every_key_an_app_context_carries(
    cards: list[tuple[str, dict[str, Any]]], client: Any
) -> None:
    """Discovery and the OpenAPI document describe the link (issue 20, item 1): each key the
    service puts in a smart link's appContext is named in both."""
    keys = {
        key
        for _, card in cards
        for link in smart_links(card)
        for key in json.loads(link["appContext"])
    }
    described = client.get("/openapi.json").get_json()["components"]["schemas"]["Link"]
    documented = described["properties"]["appContext"]["description"]
    discovery = client.get("/cds-services").get_json()

    assert keys == {"hookInstance", "ruleId", "findings", "evaluationTime", "language"}
    assert [key for key in sorted(keys) if key not in documented] == []
    assert all("extension" not in service for service in discovery["services"])  # app off here
