"""CDS Hooks 2.0 conformance over real HTTP, requirement by requirement.

Each test names the requirements it proves with `@pytest.mark.requirement("<Req Set>:<ID>")`,
ids from the Inferno requirements table (`tests/data/inferno-requirements/`); the
coverage is counted in docs/cds-hooks-conformance.md (scripts/conformance_report.py).
Most tests read one module-wide exchange: discovery, every `fhir_samples/` request sent to the
service its hook names, a feedback post and the error answers, all over a loopback socket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from conftest import REPO, SAMPLE_CLOCK, SAMPLES, fresh_claims, load_json, serving
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from loopback import GOOD_TOKEN, PAGES, FakeFhir, serve

from cds import create_app
from cds.fhir.fetch import render_template
from cds.fhir.resources import validate_resource
from cds.schemas import CONTEXT_SCHEMAS

JSON = "application/json"
DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely.json"
NO_GUIDANCE_SAMPLE = "no-symptoms-routine-review.json"
OUTCOME_PREFETCH_SAMPLE = "prefetch-operation-outcome-conditions.json"
FEEDBACK_SAMPLE = "acute-limb-ischaemia-cold-pulseless-right-foot.json"
INDICATORS = ("info", "warning", "critical")  # in order of increasing urgency
USER_TOKENS = {
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
}
TOKEN = re.compile(r"\{\{(.*?)\}\}")


# --- the module-wide exchange -----------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request and its answer as they crossed the socket."""

    request: dict[str, Any] | None
    status: int
    content_type: str
    body: Any


@dataclass
class Wire:
    discovery: Exchange
    answers: dict[str, Exchange] = field(default_factory=dict)  # sample name -> answer
    repeat: Exchange | None = None  # DVT_SAMPLE sent a second time
    feedback: Exchange | None = None
    errors: dict[str, Exchange] = field(default_factory=dict)

    def service_for(self, hook: str) -> str:
        (service,) = [s["id"] for s in self.discovery.body["services"] if s["hook"] == hook]
        return str(service)

    def cards(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (name, card) for name, answer in self.answers.items() for card in answer.body["cards"]
        ]

    def every_json_answer(self) -> list[tuple[str, Exchange]]:
        listed = [("discovery", self.discovery), *self.answers.items(), *self.errors.items()]
        if self.repeat is not None:
            listed.append(("repeat", self.repeat))
        if self.feedback is not None:
            listed.append(("feedback", self.feedback))
        return listed


def exchange(response: httpx.Response, request: dict[str, Any] | None = None) -> Exchange:
    return Exchange(
        request, response.status_code, response.headers.get("Content-Type", ""), response.json()
    )


def hook_call(hook: str = "patient-view", **changes: Any) -> dict[str, Any]:
    context = {"userId": "Practitioner/example", "patientId": "p1"}
    if hook == "encounter-start":
        context["encounterId"] = "e1"
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **changes}


@contextmanager
def app_served(config: dict[str, Any]) -> Iterator[str]:
    """create_app(config) with a migrated store, served on loopback; yields the base URL."""
    application = create_app(config)
    store = application.extensions["calf-cds"].store
    store.upgrade()
    try:
        with serving(application) as url:
            yield url
    finally:
        store.close()


def sqlite(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'conformance.sqlite3'}"


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    config = {
        "database_url": sqlite(tmp_path_factory.mktemp("wire")),
        "evaluation_time": SAMPLE_CLOCK,
        "auth_mode": "off",
    }
    with app_served(config) as url, httpx.Client(base_url=url, timeout=10) as http:
        result = Wire(discovery=exchange(http.get("/cds-services")))
        for path in sorted(SAMPLES.glob("*.json")):
            body = load_json(path)
            service = result.service_for(body["hook"])
            result.answers[path.name] = exchange(
                http.post(f"/cds-services/{service}", json=body), body
            )
        dvt = load_json(SAMPLES / DVT_SAMPLE)
        result.repeat = exchange(http.post("/cds-services/calf-pain-triage", json=dvt), dvt)
        (card,) = result.answers[FEEDBACK_SAMPLE].body["cards"]
        feedback = {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                    "outcomeTimestamp": SAMPLE_CLOCK,
                }
            ]
        }
        result.feedback = exchange(
            http.post("/cds-services/calf-pain-triage/feedback", json=feedback), feedback
        )
        unsatisfiable = hook_call()
        result.errors = {
            "400": exchange(http.post("/cds-services/calf-pain-triage", json={"hook": 1})),
            "404": exchange(http.post("/cds-services/no-such-service", json=hook_call())),
            "405": exchange(http.get("/cds-services/calf-pain-triage")),
            "412": exchange(
                http.post("/cds-services/calf-pain-triage", json=unsatisfiable), unsatisfiable
            ),
            "415": exchange(
                http.post(
                    "/cds-services/calf-pain-triage",
                    content=b"hook=patient-view",
                    headers={"Content-Type": "text/plain"},
                )
            ),
        }
        yield result


def empty_elements(value: Any, path: str) -> list[str]:
    """Paths of every null, "", [] and {} in a JSON value."""
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empty_elements(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empty_elements(v, f"{path}[{i}]")]
    return []


def is_absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def is_coding(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("code"), str)
        and bool(value["code"])
        and is_absolute_url(value.get("system"))
        and isinstance(value.get("display", ""), str)
    )


# --- JSON, discovery ------------------------------------------------------------------------


@pytest.mark.requirement(
    "cds-hooks_2.0:1", "cds-hooks_2.0:3", "cds-hooks_2.0:14", "cds-hooks_2.0:76"
)
def test_every_answer_is_json_with_no_null_or_empty_element(wire: Wire) -> None:
    for name, answer in wire.every_json_answer():
        assert answer.content_type == JSON, name
        empties = empty_elements(answer.body, "$")
        if answer.body == {"cards": []}:  # the one empty the specification allows
            empties.remove("$.cards")
        assert empties == [], (name, empties)
    for status, error in wire.errors.items():
        assert error.status == int(status)
        assert error.body["resourceType"] == "OperationOutcome", status


@pytest.mark.requirement(
    "cds-hooks_2.0:4", "cds-hooks_2.0:5", "cds-hooks_2.0:6", "cds-hooks_2.0:13"
)
def test_discovery_is_a_200_object_listing_the_services_at_base_cds_services(wire: Wire) -> None:
    assert wire.discovery.status == 200
    assert wire.discovery.content_type == JSON
    assert list(wire.discovery.body) == ["services"]
    assert isinstance(wire.discovery.body["services"], list)
    assert {(s["id"], s["hook"]) for s in wire.discovery.body["services"]} == {
        ("calf-pain-triage", "patient-view"),
        ("calf-pain-triage-encounter", "encounter-start"),
    }


@pytest.mark.requirement(
    "cds-hooks_2.0:7",
    "cds-hooks_2.0:8",
    "cds-hooks_2.0:9",
    "cds-hooks_2.0:10",
    "cds-hooks_2.0:11",
    "cds-hooks_2.0:12",
)
def test_each_service_is_described_by_hook_id_title_description_prefetch(wire: Wire) -> None:
    for service in wire.discovery.body["services"]:
        for name in ("hook", "id", "title", "description", "usageRequirements"):
            assert isinstance(service[name], str), name
            assert service[name].strip(), name
        assert re.fullmatch(r"[A-Za-z0-9-]+", service["id"])  # usable as a URL path segment
        assert isinstance(service["prefetch"], dict)
        assert all(
            isinstance(k, str) and isinstance(v, str) for k, v in service["prefetch"].items()
        )
        assert set(service) <= {
            "hook",
            "id",
            "title",
            "description",
            "prefetch",
            "usageRequirements",
        }


@pytest.mark.requirement("cds-hooks_2.0:16", "cds-hooks_2.0:74")
def test_each_discovered_service_answers_at_base_cds_services_id(wire: Wire) -> None:
    called: set[str] = set()
    for name, answer in wire.answers.items():
        assert answer.status == 200, name
        assert isinstance(answer.body["cards"], list), name
        assert answer.request is not None
        called.add(wire.service_for(answer.request["hook"]))
    assert called == {s["id"] for s in wire.discovery.body["services"]}


@pytest.mark.requirement(
    "cds-hooks_2.0:29",
    "cds-hooks_2.0:35",
    "cds-hooks_2.0:36",
    "cds-hooks_2.0:55",
    "cds-hooks_2.0:56",
    "cds-hooks_2.0:57",
    "cds-hooks_2.0:59",
    "cds-hooks-library_1.0.1:40",
)
def test_prefetch_templates_use_only_root_primitive_context_fields_as_tokens(wire: Wire) -> None:
    for service in wire.discovery.body["services"]:
        prefetch = service["prefetch"]
        assert set(prefetch) == {"patient", "observations", "conditions"}
        context_fields = set(CONTEXT_SCHEMAS[service["hook"]]().fields)
        for key, template in prefetch.items():
            tokens = [token.strip() for token in TOKEN.findall(template)]
            assert tokens, key
            assert "{" not in TOKEN.sub("", template)
            assert "}" not in TOKEN.sub("", template)
            for token in tokens:
                if token in USER_TOKENS:
                    continue
                assert token.startswith("context."), token
                assert token.removeprefix("context.") in context_fields, token  # root level
            # A token renders to the context field's (primitive) value and nothing else.
            rendered = render_template(template, {"userId": "Practitioner/u", "patientId": "p-9"})
            assert "{" not in rendered
            assert "p-9" in rendered
        assert "{{context.patientId}}" in prefetch["observations"]
        if service["hook"] == "encounter-start":  # library: patientId in encounter-start tokens
            assert "{{context.patientId}}" in prefetch["conditions"]


ALLOWED_SEARCH_PARAMETERS = {
    "patient", "subject", "encounter", "code", "category", "status", "clinical-status",
    "date", "_count", "_sort",
}  # fmt: skip


@pytest.mark.requirement("cds-hooks_2.0:58")
def test_prefetch_queries_stay_in_the_recommended_subset_of_fhir_search(wire: Wire) -> None:
    for service in wire.discovery.body["services"]:
        for key, template in service["prefetch"].items():
            path, _, query = template.partition("?")
            if not query:  # an instance read of a resource with a known id
                assert re.fullmatch(r"[A-Z][A-Za-z]+/\{\{[^}]+\}\}", path), key
                continue
            assert re.fullmatch(r"[A-Z][A-Za-z]+", path), key  # a type-level search
            for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=True):
                base, _, modifier = name.partition(":")
                assert base in ALLOWED_SEARCH_PARAMETERS, (key, name)
                assert modifier in {"", "in"}, (key, name)  # no other token modifiers
                if base == "code":  # token equality: code or system|code, comma = OR
                    assert all(re.fullmatch(r"([^|,\s]+\|)?[^|,\s]+", c) for c in value.split(","))
                if base == "_sort":
                    assert value in {"date", "-date"}, (key, value)


# --- the service call -----------------------------------------------------------------------


@pytest.mark.requirement("cds-hooks_2.0:77", "cds-hooks_2.0:74")
def test_no_decision_support_is_200_with_an_empty_cards_array(wire: Wire) -> None:
    answer = wire.answers[NO_GUIDANCE_SAMPLE]
    assert (answer.status, answer.content_type, answer.body) == (200, JSON, {"cards": []})


@pytest.mark.requirement("cds-hooks_2.0:52", "cds-hooks_2.0:28")
def test_an_operation_outcome_in_prefetch_is_not_read_as_data(wire: Wire) -> None:
    answer = wire.answers[OUTCOME_PREFETCH_SAMPLE]
    assert answer.request is not None
    assert answer.request["prefetch"]["conditions"]["resourceType"] == "OperationOutcome"
    assert answer.status == 200
    (info,) = [card for card in answer.body["cards"] if "topic" not in card["source"]]
    assert info["indicator"] == "info"
    assert info["summary"] == "Data not available (conditions): red flags may be missing"
    named = "- Prefetch conditions: not available and not fetched; not evaluated."
    assert named in info["detail"]


@pytest.mark.requirement(
    "cds-hooks_2.0:80", "cds-hooks_2.0:81", "cds-hooks_2.0:118", "cds-hooks_2.0:119"
)
def test_card_and_suggestion_uuids_are_unique_strings_across_cards_and_calls(wire: Wire) -> None:
    assert wire.repeat is not None
    answers = [*wire.answers.values(), wire.repeat]
    cards = [card for answer in answers for card in answer.body["cards"]]
    uuids = [card["uuid"] for card in cards] + [
        suggestion["uuid"] for card in cards for suggestion in card.get("suggestions", [])
    ]
    assert all(isinstance(value, str) for value in uuids)
    assert all(str(uuid.UUID(value)) == value for value in uuids)
    assert len(uuids) == len(set(uuids))
    first = {card["uuid"] for card in wire.answers[DVT_SAMPLE].body["cards"]}
    assert first.isdisjoint(card["uuid"] for card in wire.repeat.body["cards"])


@pytest.mark.requirement(
    "cds-hooks_2.0:83",
    "cds-hooks_2.0:87",
    "cds-hooks_2.0:88",
    "cds-hooks_2.0:89",
    "cds-hooks_2.0:90",
    "cds-hooks_2.0:105",
)
def test_every_card_has_a_short_summary_an_indicator_and_a_labelled_source(wire: Wire) -> None:
    for name, card in wire.cards():
        assert isinstance(card["summary"], str), name
        assert 0 < len(card["summary"]) < 140, (name, card["summary"])
        assert card["indicator"] in INDICATORS, name
        assert isinstance(card["source"], dict), name
        assert isinstance(card["source"]["label"], str), name
        assert card["source"]["label"], name
    for name, answer in wire.answers.items():  # most urgent first, so a client may keep order
        urgency = [INDICATORS.index(card["indicator"]) for card in answer.body["cards"]]
        assert urgency == sorted(urgency, reverse=True), name


@pytest.mark.requirement("cds-hooks_2.0:84", "cds-hooks_2.0:85")
def test_detail_is_markdown_text_never_raw_html(wire: Wire) -> None:
    for name, card in wire.cards():
        detail = card["detail"]
        assert isinstance(detail, str), name
        assert detail.strip(), name
        assert not re.search(r"(?<!\\)<[A-Za-z/!?]", detail), (name, detail)
        if "topic" in card["source"]:
            assert "**" in detail, name
            assert "\n- " in detail, name  # GFM emphasis and lists


@pytest.mark.requirement(
    "cds-hooks_2.0:106",
    "cds-hooks_2.0:107",
    "cds-hooks_2.0:108",
    "cds-hooks_2.0:109",
)
def test_source_url_is_an_absolute_url_of_the_guideline_not_a_drill_down(wire: Wire) -> None:
    # clinical-rules §7.1: the source is the variant's where §4 names one (pregnant: RCOG GTG
    # 37b; spinal cancer variants: NICE NG234, fever variants: NICE NG59), so one URL per variant.
    urls_by_variant: dict[tuple[str, str], set[str]] = {}
    for name, card in wire.cards():
        source = card["source"]
        if "url" not in source:
            continue
        assert is_absolute_url(source["url"]), (name, source["url"])
        request = wire.answers[name].request
        assert request is not None
        assert request["context"]["patientId"] not in source["url"]
        variant = card["extension"]["example.calf-cds"]["variant"]
        urls_by_variant.setdefault((source["topic"]["code"], variant), set()).add(source["url"])
    assert all(len(urls) == 1 for urls in urls_by_variant.values()), urls_by_variant
    spinal = {v: urls for (rule, v), urls in urls_by_variant.items() if rule == "R-SPINAL-RED-FLAG"}
    assert spinal["cancer"] == {"https://www.nice.org.uk/guidance/ng234"}
    assert spinal["fever"] == {"https://www.nice.org.uk/guidance/ng59"}
    assert urls_by_variant[("R-DVT-PATHWAY", "likely")] == {
        "https://www.nice.org.uk/guidance/ng158"
    }
    (pregnant,) = urls_by_variant[("R-DVT-PATHWAY", "pregnant")]
    assert pregnant.startswith("https://www.rcog.org.uk/")


def test_a_card_with_a_guideline_url_links_it_as_an_absolute_link(wire: Wire) -> None:
    """clinical-rules §7.1 (2026.2): `links` = [{label: guideline name, url, type: absolute}]
    when the source has a URL; no `smart` link while the red-flag check app is not enabled."""
    linked = 0
    for name, card in wire.cards():
        source = card["source"]
        if "url" not in source:
            assert "links" not in card, name
            continue
        (link,) = card["links"]
        assert link == {
            "label": source["label"].removesuffix(" (calf-cds 2026.2)"),
            "url": source["url"],
            "type": "absolute",
        }, name
        linked += 1
    assert linked > 40


@pytest.mark.requirement(
    "cds-hooks_2.0:115",
    "cds-hooks_2.0:116",
    "cds-hooks_2.0:216",
    "cds-hooks_2.0:217",
    "cds-hooks_2.0:218",
    "cds-hooks_2.0:220",
)
def test_source_topic_is_a_coding_with_system_and_code(wire: Wire) -> None:
    topics = [card["source"]["topic"] for _, card in wire.cards() if "topic" in card["source"]]
    assert topics
    for topic in topics:
        assert is_coding(topic), topic
        assert set(topic) <= {"system", "code", "display"}


@pytest.mark.requirement(
    "cds-hooks_2.0:98",
    "cds-hooks_2.0:99",
    "cds-hooks_2.0:100",
    "cds-hooks_2.0:136",
    "cds-hooks_2.0:216",
    "cds-hooks_2.0:217",
    "cds-hooks_2.0:218",
    "cds-hooks_2.0:219",
)
def test_override_reasons_are_codings_with_a_human_readable_display(wire: Wire) -> None:
    reasons = [reason for _, card in wire.cards() for reason in card.get("overrideReasons", [])]
    assert reasons
    for _, card in wire.cards():
        if "overrideReasons" in card:
            assert isinstance(card["overrideReasons"], list)
    for reason in reasons:
        assert is_coding(reason), reason
        assert isinstance(reason["display"], str), reason
        assert reason["display"].strip(), reason
        assert reason["display"] != reason["code"]  # text for a person, not the code again


@pytest.mark.requirement(
    "cds-hooks_2.0:92",
    "cds-hooks_2.0:93",
    "cds-hooks_2.0:94",
    "cds-hooks_2.0:95",
    "cds-hooks_2.0:96",
    "cds-hooks_2.0:117",
    "cds-hooks_2.0:120",
    "cds-hooks_2.0:121",
    "cds-hooks_2.0:123",
    "cds-hooks_2.0:124",
    "cds-hooks_2.0:127",
    "cds-hooks_2.0:128",
    "cds-hooks_2.0:129",
)
def test_suggestions_come_with_selection_behavior_and_well_formed_actions(wire: Wire) -> None:
    with_suggestions = [(n, c) for n, c in wire.cards() if "suggestions" in c]
    assert with_suggestions
    assert any("suggestions" not in card for _, card in wire.cards())  # optional
    for _, card in wire.cards():
        assert ("selectionBehavior" in card) == ("suggestions" in card)
    for name, card in with_suggestions:
        assert isinstance(card["suggestions"], list), name
        assert card["suggestions"], name
        assert card["selectionBehavior"] in {"at-most-one", "any"}, name
        for suggestion in card["suggestions"]:
            assert isinstance(suggestion["label"], str), name
            assert suggestion["label"].strip(), name
            assert isinstance(suggestion["isRecommended"], bool), name
            assert isinstance(suggestion["actions"], list), name
            assert suggestion["actions"], name
            for action in suggestion["actions"]:
                assert action["type"] in {"create", "update", "delete"}, name
                assert isinstance(action["description"], str), name
                assert action["description"].strip(), name


@pytest.mark.requirement("cds-hooks_2.0:130", "cds-hooks_2.0:131")
def test_a_create_action_carries_a_new_valid_fhir_resource(wire: Wire) -> None:
    actions = [
        action
        for _, card in wire.cards()
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
    ]
    assert actions
    for action in actions:
        assert action["type"] == "create"
        resource = action["resource"]
        validate_resource(resource)  # fhir.resources R4B: a valid resource, not a fragment
        assert resource["resourceType"] == "ServiceRequest"
        assert "id" not in resource  # new: the EHR assigns the id when it creates it
        assert resource["status"] == "draft"


def test_features_the_service_does_not_use_stay_unused(wire: Wire) -> None:
    """The conformance page marks the icon, systemActions, update/delete and multi-action
    requirements not applicable because the service sends none of them; this keeps that true
    (add tests for those requirements before sending any of these). Smart links are sent when
    the red-flag check app is enabled (tests/test_smart_links.py, cds-hooks_2.0:144-146): this
    exchange runs without it, so its links stay absolute."""
    for name, answer in wire.answers.items():
        assert set(answer.body) == {"cards"}, name  # no systemActions
        for card in answer.body["cards"]:
            assert all(link["type"] == "absolute" for link in card.get("links", [])), name
            assert "icon" not in card["source"], name
            assert len(card.get("suggestions", [])) <= 1, name
            for suggestion in card.get("suggestions", []):
                assert [action["type"] for action in suggestion["actions"]] == ["create"], name


@pytest.mark.requirement(
    "cds-hooks_2.0:103",
    "cds-hooks_2.0:104",
    "cds-hooks_2.0:138",
    "cds-hooks_2.0:139",
    "cds-hooks_2.0:141",
    "cds-hooks_2.0:142",
    "cds-hooks_2.0:147",
)
def test_links_are_labelled_absolute_urls_without_app_context(wire: Wire) -> None:
    linked = 0
    for name, card in wire.cards():
        links = card.get("links", [])
        assert isinstance(links, list), name
        for link in links:
            assert isinstance(link["label"], str), name
            assert link["label"].strip(), name
            assert link["type"] in {"absolute", "smart"}, name
            assert urlsplit(link["url"]).scheme == "https", name
            assert urlsplit(link["url"]).netloc, name
            if link["type"] == "absolute":
                assert "appContext" not in link, name
            linked += 1
    assert linked > 0  # the guideline links are really sent


@pytest.mark.requirement("cds-hooks_2.0:214", "cds-hooks_2.0:215")
def test_card_extensions_are_json_objects_under_a_reverse_domain_key(wire: Wire) -> None:
    for name, card in wire.cards():
        extension = card.get("extension", {})
        assert isinstance(extension, dict), name
        assert all(isinstance(value, dict) for value in extension.values()), name
        assert set(extension) <= {"example.calf-cds"}, name


@pytest.mark.requirement("cds-hooks_2.0:54")
def test_unobtainable_prefetch_without_a_fhir_server_is_412(wire: Wire) -> None:
    answer = wire.errors["412"]
    assert answer.request is not None
    assert "prefetch" not in answer.request
    assert "fhirServer" not in answer.request
    assert answer.status == 412
    assert answer.body["issue"][0]["code"] == "incomplete"
    assert "observations" in answer.body["issue"][0]["diagnostics"]


@pytest.mark.requirement("cds-hooks_2.0:27")
def test_a_service_call_is_answered_within_500_ms(live_server: Any) -> None:
    body = load_json(SAMPLES / "soft-tissue-infection-pain-out-of-proportion.json")
    timings = []
    with live_server.client() as http:
        for _ in range(3):
            started = time.perf_counter()
            response = http.post("/cds-services/calf-pain-triage", json=body)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
    assert min(timings) < 0.5, timings


@pytest.mark.requirement("cds-hooks_2.0:5")
def test_discovery_stays_available_while_the_store_cannot_be_opened(tmp_path: Path) -> None:
    application = create_app(
        {"database_url": f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}", "auth_mode": "off"}
    )
    try:
        with serving(application) as url, httpx.Client(base_url=url, timeout=10) as http:
            discovery = http.get("/cds-services")
            call = http.post("/cds-services/calf-pain-triage", json=load_json(SAMPLES / DVT_SAMPLE))
    finally:
        application.extensions["calf-cds"].store.close()
    assert discovery.status_code == 200
    assert len(discovery.json()["services"]) == 2
    assert call.status_code == 200
    assert call.json()["cards"]


# --- prefetch from the EHR's FHIR server ----------------------------------------------------


@dataclass
class FhirSetup:
    service_url: str
    fhir_url: str
    fake: FakeFhir


@pytest.fixture
def with_fhir_server(tmp_path: Path) -> Iterator[FhirSetup]:
    fake = FakeFhir()
    with serve(fake.app()) as fhir_url:
        config = {
            "database_url": sqlite(tmp_path),
            "evaluation_time": SAMPLE_CLOCK,
            "auth_mode": "off",
            "fhir_server_allowlist": fhir_url,
        }
        with app_served(config) as service_url:
            yield FhirSetup(service_url, fhir_url, fake)


@pytest.mark.requirement("cds-hooks_2.0:34", "cds-hooks_2.0:60", "cds-hooks_2.0:61")
def test_missing_prefetch_is_fetched_with_the_access_token_on_every_call(
    with_fhir_server: FhirSetup,
) -> None:
    fhir = f"{with_fhir_server.fhir_url}/secure"
    first_page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": f"{fhir}/Observation?page=2"}],
        "entry": [],
    }
    body = hook_call(
        fhirServer=fhir,
        fhirAuthorization={
            "access_token": GOOD_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Observation.read patient/Condition.read",
            "subject": "calf-cds",
        },
        prefetch={"patient": {"resourceType": "Patient", "id": "p1"}, "observations": first_page},
    )

    response = httpx.post(
        f"{with_fhir_server.service_url}/cds-services/calf-pain-triage", json=body
    )

    assert response.status_code == 200, response.text
    seen = with_fhir_server.fake.seen
    assert {s.authorization for s in seen} == {f"Bearer {GOOD_TOKEN}"}
    assert {s.path for s in seen} == {"/secure/Observation", "/secure/Condition"}
    assert len(seen) == (PAGES - 1) + PAGES  # the prefetched Bundle's next pages, all conditions
    for card in response.json()["cards"]:
        assert "unsatisfiedPrefetch" not in card.get("extension", {}).get("example.calf-cds", {})


@pytest.mark.requirement("cds-hooks_2.0:28")
def test_complete_prefetch_is_used_without_contacting_the_fhir_server(
    with_fhir_server: FhirSetup,
) -> None:
    body = load_json(SAMPLES / DVT_SAMPLE)
    body["fhirServer"] = f"{with_fhir_server.fhir_url}/fhir"

    response = httpx.post(
        f"{with_fhir_server.service_url}/cds-services/calf-pain-triage", json=body
    )

    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == ["R-DVT-PATHWAY"]
    assert with_fhir_server.fake.seen == []


# --- feedback -------------------------------------------------------------------------------


@pytest.mark.requirement("cds-hooks_2.0:82", "cds-hooks_2.0:148")
def test_feedback_names_issued_cards_by_uuid_and_is_stored_once(live_server: Any) -> None:
    with live_server.client() as http:
        answer = http.post(
            "/cds-services/calf-pain-triage", json=load_json(SAMPLES / FEEDBACK_SAMPLE)
        )
        (card,) = answer.json()["cards"]
        reason = card["overrideReasons"][0]
        entry = {
            "card": card["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": reason, "userComment": "seen in clinic today"},
            "outcomeTimestamp": SAMPLE_CLOCK,
        }
        first = http.post("/cds-services/calf-pain-triage/feedback", json={"feedback": [entry]})
        again = http.post("/cds-services/calf-pain-triage/feedback", json={"feedback": [entry]})

    assert (first.status_code, first.headers["Content-Type"]) == (200, JSON)
    assert first.json() == {"stored": 1, "duplicates": 0, "unmatched": 0}  # matched by uuid
    assert again.json() == {"stored": 0, "duplicates": 1, "unmatched": 0}


# --- security -------------------------------------------------------------------------------

ISSUER = "https://ehr.example.org"
PUBLIC_BASE = "https://cds.example.org"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS = {
    "keys": [
        {**ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True), "kid": "ec", "alg": "ES384"},
        {**RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True), "kid": "rsa", "alg": "RS384"},
    ]
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(path: str) -> dict[str, Any]:
    return fresh_claims(ISSUER, PUBLIC_BASE + path)


def signed(alg: str, path: str) -> str:
    key, kid = (EC_KEY, "ec") if alg.startswith("ES") else (RSA_KEY, "rsa")
    return jwt.encode(claims(path), key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def forged(alg: str, path: str) -> str:
    """A token with `alg` none (no signature) or HMAC keyed with the issuer's public JWK."""
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "ec"}).encode())
    payload = b64(json.dumps(claims(path)).encode())
    if alg == "none":
        return f"{header}.{payload}."
    secret = json.dumps(KEYS["keys"][0]).encode()
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[str]:
    config = {
        "database_url": sqlite(tmp_path),
        "auth_mode": "required",
        "patient_hash_salt": "conformance-test-salt",  # required mode refuses to start without
        "trusted_issuers": json.dumps({ISSUER: {"jwks": KEYS}}),  # keys out of band: no jku
        "public_base_url": PUBLIC_BASE,
        "evaluation_time": SAMPLE_CLOCK,
    }
    with app_served(config) as url:
        yield url


@pytest.mark.requirement(
    "cds-hooks_2.0:176",
    "cds-hooks_2.0:177",
    "cds-hooks_2.0:199",
    "cds-hooks_2.0:200",
    "cds-hooks_2.0:201",
    "cds-hooks_2.0:203",
    "cds-hooks_2.0:205",
)
@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(lambda p: signed("ES384", p), 200, id="ES384"),
        pytest.param(lambda p: signed("RS384", p), 200, id="RS384"),
        pytest.param(lambda p: None, 401, id="no-token"),
        pytest.param(lambda p: forged("none", p), 401, id="alg-none"),
        pytest.param(lambda p: forged("HS256", p), 401, id="symmetric-HS256"),
    ],
)
def test_only_a_jwt_signed_with_the_clients_private_key_is_trusted(
    secured: str, token: Any, status: int
) -> None:
    path = "/cds-services/calf-pain-triage"
    value = token(path)
    headers = {"Authorization": f"Bearer {value}"} if value else {}

    response = httpx.post(
        secured + path, json=load_json(SAMPLES / DVT_SAMPLE), headers=headers, timeout=10
    )

    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == JSON
    if status == 401:
        assert response.json()["issue"][0]["diagnostics"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    else:
        assert response.json()["cards"]


@pytest.mark.requirement("cds-hooks_2.0:177")
def test_the_production_image_requires_authentication() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^\s*CDS_AUTH_MODE=required\b", dockerfile, re.MULTILINE)


@pytest.mark.requirement("cds-hooks_2.0:208")
def test_a_browser_client_gets_cors_permission_for_the_service_call(live_server: Any) -> None:
    origin = "https://sandbox.cds-hooks.org"
    with live_server.client() as http:
        preflight = http.options(
            "/cds-services/calf-pain-triage",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        call = http.post(
            "/cds-services/calf-pain-triage",
            json=load_json(SAMPLES / DVT_SAMPLE),
            headers={"Origin": origin},
        )

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert call.status_code == 200
    assert call.headers["Access-Control-Allow-Origin"] == "*"
