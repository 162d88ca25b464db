"""No PHI in the logs (conventions.md habit 12; issue 7, item 5).

Every fhir_samples/ file goes through the service (its hook, the same data as a Bundle to
/evaluate, feedback on its cards, and the request with its prefetch gone, which is a 412) with
the "cds" logger at DEBUG, formatted by the service's own JSON formatter. No line may carry a
patient name, identifier, birth date, patient id or a distinctive observation value of the
samples; the PHI strings are collected from the sample files themselves.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SAMPLES, load_json, prefetch_as_bundle
from flask import Flask

from cds import create_app
from cds.observability import JsonFormatter

SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}
# Fields that are mechanical (clock, process, timing, our own random request id): a digit run
# in them that equals an observation value is a coincidence, not a leak.
MECHANICAL_FIELDS = {"ts", "pid", "duration_ms", "ms", "request_id"}
MIN_VALUE_CHARS = 3


def walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside `value`, depth first."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


def phi_of(sample: dict[str, Any]) -> dict[str, set[str]]:
    """The identifying strings one sample carries, by kind."""
    phi: dict[str, set[str]] = {
        "name": set(),
        "identifier": set(),
        "birth date": set(),
        "patient id": set(),
        "observation value": set(),
    }
    patient_id = sample.get("context", {}).get("patientId")
    if isinstance(patient_id, str):
        phi["patient id"].add(patient_id)
    for node in walk(sample):
        kind = node.get("resourceType")
        if kind == "Patient":
            if isinstance(node.get("id"), str):
                phi["patient id"].add(node["id"])
            for name in node.get("name", []):
                parts = [name.get("family"), name.get("text"), *name.get("given", [])]
                phi["name"].update(part for part in parts if isinstance(part, str))
            phi["identifier"].update(
                ident["value"] for ident in node.get("identifier", []) if "value" in ident
            )
            if isinstance(node.get("birthDate"), str):
                phi["birth date"].add(node["birthDate"])
        quantity = node.get("valueQuantity")
        if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
            rendered = str(quantity["value"])
            if len(rendered) >= MIN_VALUE_CHARS:
                phi["observation value"].add(rendered)
    return phi


def leak_pattern(kind: str, text: str) -> re.Pattern[str]:
    """How `text` would show in a line: a number as a whole token (138.6 is not 38.6), a name
    as a whole word (Maximum is not Max), ids, identifiers and dates anywhere."""
    escaped = re.escape(text)
    if kind == "observation value":
        # Not inside a longer number, nor inside a hex run (a uuid holding "108").
        return re.compile(r"(?<![\w.])" + escaped + r"(?!\w|\.\d)")
    if kind == "name":
        return re.compile(r"\b" + escaped + r"\b")
    return re.compile(escaped)


def feedback_for(cards: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for card in cards:
        item: dict[str, Any] = {"card": card["uuid"], "outcomeTimestamp": "2026-11-25T12:01:00Z"}
        if card.get("suggestions"):
            item["outcome"] = "accepted"
            item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
        else:
            item["outcome"] = "overridden"
        items.append(item)
    return {"feedback": items}


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of the "cds" logger, as the service formats it (one JSON object a line)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("cds")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def debug_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(
        {**app_config, "log_level": "DEBUG", "patient_hash_salt": "fixed-test-salt"}
    )
    application.extensions["calf-cds"].store.upgrade()
    yield application
    application.extensions["calf-cds"].store.close()


def run_every_sample(client: Any) -> int:
    """Each sample through hook, /evaluate, feedback and a 412; the number of requests."""
    requests = 0
    for path in sorted(SAMPLES.glob("*.json")):
        sample = load_json(path)
        service = SERVICE_FOR_HOOK[sample["hook"]]
        answer = client.post(f"/cds-services/{service}", json=sample)
        assert answer.status_code == 200, path.name
        cards = answer.get_json()["cards"]
        if cards:
            stored = client.post(f"/cds-services/{service}/feedback", json=feedback_for(cards))
            assert stored.status_code == 200, stored.get_data(as_text=True)
            requests += 1
        evaluated = client.post(f"/evaluate?service={service}", json=prefetch_as_bundle(sample))
        assert evaluated.status_code == 200, path.name
        unsatisfiable = client.post(f"/cds-services/{service}", json={**sample, "prefetch": {}})
        assert unsatisfiable.status_code == 412, path.name
        requests += 3
    return requests


def test_no_log_line_carries_a_name_identifier_birth_date_id_or_value_of_the_samples(
    debug_app: Flask, json_log: io.StringIO
) -> None:
    phi: dict[str, set[str]] = {}
    for path in SAMPLES.glob("*.json"):
        for kind, values in phi_of(load_json(path)).items():
            phi.setdefault(kind, set()).update(values)
    # The collection itself is checked: every kind is present in the samples.
    assert all(phi[kind] for kind in phi), {kind: len(values) for kind, values in phi.items()}

    requests = run_every_sample(debug_app.test_client())

    lines = json_log.getvalue().splitlines()
    assert len(lines) >= requests  # at least the access line of every request was captured
    patterns = [
        (kind, text, leak_pattern(kind, text)) for kind, texts in phi.items() for text in texts
    ]
    leaks = []
    for line in lines:
        record = json.loads(line)
        searchable = json.dumps(
            {key: value for key, value in record.items() if key not in MECHANICAL_FIELDS},
            ensure_ascii=False,
        )
        leaks.extend(
            f"{kind} {text!r} in: {line[:300]}"
            for kind, text, pattern in patterns
            if pattern.search(searchable)
        )
    assert not leaks, "\n".join(leaks[:20])


def test_the_log_names_patients_by_salted_hash_only(
    debug_app: Flask, json_log: io.StringIO
) -> None:
    # The positive control of the test above: the patient is in the log, as a hash.
    sample = load_json(SAMPLES / "acute-limb-ischaemia-cold-pulseless-right-foot.json")
    response = debug_app.test_client().post("/cds-services/calf-pain-triage", json=sample)
    assert response.status_code == 200

    expected = debug_app.extensions["calf-cds"].store.patient_hash(sample["context"]["patientId"])
    access = [
        json.loads(line)
        for line in json_log.getvalue().splitlines()
        if json.loads(line).get("logger") == "cds.access"
    ]
    assert [record["patient_hash"] for record in access] == [expected]
    assert re.fullmatch(r"[0-9a-f]{32}", expected)
