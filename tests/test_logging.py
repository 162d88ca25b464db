"""Structured JSON logs: one access line per request with ids and timings, and no PHI at all
(conventions habit 12): no names, identifiers, birth dates, patient ids or observation values."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import SAMPLES, load_json

from cds.observability import JsonFormatter

DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely.json"
PATIENT_ID = "phi-patient-7f3a9c"
PHI = {
    "family name": "Quackenbush",
    "given name": "Zebediah",
    "identifier": "MRN-55501234",
    "birth date": "1958-07-19",
    "patient id": PATIENT_ID,
    "observation value": "3.75",
    "observation unit text": "centimetre-difference",
}


def phi_request() -> dict[str, Any]:
    """The DVT sample with a distinctive patient and distinctive measured values."""
    request = copy.deepcopy(load_json(SAMPLES / DVT_SAMPLE))
    old_id = request["context"]["patientId"]
    request["context"]["patientId"] = PATIENT_ID
    patient = request["prefetch"]["patient"]
    patient["id"] = PATIENT_ID
    patient["name"] = [{"family": PHI["family name"], "given": [PHI["given name"]]}]
    patient["identifier"] = [{"system": "https://ehr.example.org/mrn", "value": PHI["identifier"]}]
    patient["birthDate"] = PHI["birth date"]
    text = json.dumps(request).replace(old_id, PATIENT_ID)
    request = json.loads(text)
    for entry in request["prefetch"]["observations"]["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if isinstance(quantity, dict):
            quantity["value"] = float(PHI["observation value"])
            quantity["unit"] = PHI["observation unit text"]
    return request


@contextmanager
def captured() -> Iterator[list[str]]:
    """Every line the `cds` loggers write while inside, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("cds")
    root.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        lines.extend(stream.getvalue().splitlines())


def _records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "log_level": "DEBUG", "patient_hash_salt": "test-salt"}


def test_no_log_line_holds_phi(client: Any) -> None:
    with captured() as lines:
        request = phi_request()
        answer = client.post("/cds-services/calf-pain-triage", json=request)
        cards = answer.get_json()["cards"]
        client.post(
            "/cds-services/calf-pain-triage/feedback",
            json={
                "feedback": [
                    {
                        "card": cards[0]["uuid"],
                        "outcome": "overridden",
                        "overrideReason": {"reason": cards[0]["overrideReasons"][0]},
                        "outcomeTimestamp": "2026-11-25T12:00:00Z",
                    }
                ]
            },
        )
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": request["prefetch"]["patient"]}]
            + request["prefetch"]["observations"]["entry"],
        }
        client.post("/evaluate", json=bundle)
        bad = copy.deepcopy(request)
        bad["context"]["userId"] = f"Nurse {PHI['family name']}"
        client.post("/cds-services/calf-pain-triage", json=bad)

    assert answer.status_code == 200
    access = [r for r in _records(lines) if r["logger"] == "cds.access"]
    assert [r["status"] for r in access] == [200, 200, 200, 400]
    for line in lines:
        # The clock's fields can hold any digits ("10:00:43.752" holds "3.75"): not request data.
        record = {k: v for k, v in json.loads(line).items() if k not in ("ts", "duration_ms")}
        text = json.dumps(record, ensure_ascii=False)
        for what, value in PHI.items():
            assert value not in text, f"{what} leaked into a log line: {line}"


def test_access_line_names_ids_timings_rules_and_a_salted_hash(client: Any) -> None:
    request = phi_request()
    with captured() as lines:
        client.post(
            "/cds-services/calf-pain-triage", json=request, headers={"X-Request-Id": "req-42"}
        )
    access = [r for r in _records(lines) if r["logger"] == "cds.access"]

    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-42"
    assert line["service"] == "calf-pain-triage"
    assert line["hook_instance"] == request["hookInstance"]
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert "R-DVT-PATHWAY" in line["rules"]
    assert line["patient_hash"]
    assert PATIENT_ID not in line["patient_hash"]
    assert isinstance(line["pid"], int)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Patient Zebediah Quackenbush", id="free-text"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param('{"json": 1}', id="punctuation"),
    ],
)
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client: Any, header: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": header})

    assert response.headers["X-Request-Id"] != header
    assert len(response.headers["X-Request-Id"]) == 32


def test_gunicorns_errors_carry_their_frames_but_no_values() -> None:
    from gunicorn.config import Config

    from cds.serving.gunicorn_logging import JsonLogger

    config = Config()
    config.set("errorlog", "-")
    gunicorn_log = JsonLogger(config)
    stream = io.StringIO()
    for handler in gunicorn_log.error_log.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        raise ValueError(f"patient {PATIENT_ID}")
    except ValueError:
        gunicorn_log.exception("Exception in worker process")

    line = json.loads(stream.getvalue())
    assert (line["msg"], line["error"]) == ("Exception in worker process", "ValueError")
    (frame,) = line["frames"]
    assert frame.endswith(" in test_gunicorns_errors_carry_their_frames_but_no_values")
    assert PATIENT_ID not in stream.getvalue()
