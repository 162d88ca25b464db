"""`POST /cds-services/{id}/feedback` on both databases (cds-hooks.md "Feedback"; issue 4).

The real app (create_app) through Flask's test client; `[sqlite]` and `[postgresql]` variants.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest_store import (
    OVERRIDE_SYSTEM,
    close_store_app,
    dead_postgres_url,
    execute_sql,
    issued_card,
    make_store_app,
    run_concurrent_writers,
)
from flask import Flask

from cds.schemas import load_feedback
from cds.store import IssuedCard, Store

SERVICE = "calf-pain-triage"
FEEDBACK_URL = f"/cds-services/{SERVICE}/feedback"
TS = "2026-11-25T12:00:00Z"
SAMPLES = Path(__file__).resolve().parent.parent / "fhir_samples"


def accepted_item(card: IssuedCard | str, *suggestions: str, at: str = TS) -> dict[str, Any]:
    card_uuid = card if isinstance(card, str) else card.card_uuid
    chosen = suggestions or (() if isinstance(card, str) else tuple(card.suggestion_uuids[:1]))
    return {
        "card": card_uuid,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": s} for s in chosen],
        "outcomeTimestamp": at,
    }


def overridden_item(
    card: IssuedCard | str, code: str = "not-applicable", **extra: Any
) -> dict[str, Any]:
    return {
        "card": card if isinstance(card, str) else card.card_uuid,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": OVERRIDE_SYSTEM, "code": code, "display": code},
            "userComment": "clinically not relevant",
        },
        "outcomeTimestamp": "2026-11-25T12:05:00Z",
        **extra,
    }


def store_of(app: Flask) -> Store:
    store: Store = app.extensions["calf-cds"].store
    return store


def diagnostics(response: Any) -> str:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


# --- answers ---


@pytest.mark.requirement("cds-hooks_2.0:148")
def test_feedback_is_stored_and_summarised(store_app: Flask, store_client: Any) -> None:
    dvt = issued_card(suggestions=(str(uuid.uuid4()), str(uuid.uuid4())))
    other = issued_card(rule_id="R-ALI-1")
    store_of(store_app).record_issued([dvt, other])

    response = store_client.post(
        FEEDBACK_URL,
        json={"feedback": [accepted_item(dvt, dvt.suggestion_uuids[1]), overridden_item(other)]},
    )

    assert response.status_code == 200
    assert response.get_json() == {"stored": 2, "duplicates": 0, "unmatched": 0}
    assert store_of(store_app).feedback_count() == 2


def test_a_leap_second_timestamp_is_stored_as_the_instant_after(
    store_app: Flask, store_client: Any
) -> None:
    # RFC 3339 allows 23:59:60; a clinician's feedback is never refused for it.
    card = issued_card(suggestions=(str(uuid.uuid4()),))
    store_of(store_app).record_issued([card])

    response = store_client.post(
        FEEDBACK_URL, json={"feedback": [accepted_item(card, at="2016-12-31T23:59:60Z")]}
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"stored": 1, "duplicates": 0, "unmatched": 0}
    (loaded,) = load_feedback({"feedback": [accepted_item(card, at="2016-12-31T23:59:60Z")]})
    assert loaded.outcome_timestamp == datetime(2017, 1, 1, tzinfo=UTC)


def test_an_offered_reason_is_stored_with_the_display_the_card_offered(
    store_app: Flask, store_client: Any
) -> None:
    ours, theirs = issued_card(rule_id="R-ALI-1"), issued_card(rule_id="R-ALI-1")
    store_of(store_app).record_issued([ours, theirs])
    forged = overridden_item(ours, "not-clinically-relevant")
    forged["overrideReason"]["reason"]["display"] = "UNSAFE RULE: disable it"
    foreign = overridden_item(theirs, "local-7")
    foreign["overrideReason"]["reason"].update(system="urn:ehr:reasons", display="Local reason 7")

    response = store_client.post(FEEDBACK_URL, json={"feedback": [forged, foreign]})

    assert response.status_code == 200
    (row,) = store_of(store_app).rule_report()
    shown = sorted((reason.code, reason.display) for reason in row.top_override_reasons)
    assert shown == [
        ("local-7", "Local reason 7"),  # a reason the card never offered: stored as sent
        ("not-clinically-relevant", "Not clinically relevant"),
    ]


def test_unknown_extra_fields_are_tolerated(store_app: Flask, store_client: Any) -> None:
    card = issued_card()
    store_of(store_app).record_issued([card])

    response = store_client.post(
        FEEDBACK_URL,
        json={"feedback": [overridden_item(card, extension={"x": 1})], "vendorField": True},
    )

    assert response.status_code == 200


def test_duplicate_feedback_is_stored_once(store_app: Flask, store_client: Any) -> None:
    card = issued_card(suggestions=(str(uuid.uuid4()),))
    store_of(store_app).record_issued([card])
    body = {"feedback": [accepted_item(card), accepted_item(card, at="2026-11-25T13:00:00+01:00")]}

    first = store_client.post(FEEDBACK_URL, json=body)
    again = store_client.post(FEEDBACK_URL, json=body)

    assert first.get_json() == {"stored": 1, "duplicates": 1, "unmatched": 0}
    assert again.get_json() == {"stored": 0, "duplicates": 2, "unmatched": 0}
    assert store_of(store_app).feedback_count() == 1


def test_unknown_card_is_stored_unmatched(store_app: Flask, store_client: Any) -> None:
    response = store_client.post(
        FEEDBACK_URL, json={"feedback": [overridden_item(str(uuid.uuid4()))]}
    )

    assert response.get_json() == {"stored": 1, "duplicates": 0, "unmatched": 1}
    assert store_of(store_app).report().unmatched_feedback == 1


def test_feedback_persists_across_an_app_restart(store_url: str) -> None:
    card = issued_card()
    first = make_store_app(store_url)
    try:
        store_of(first).record_issued([card])
        posted = first.test_client().post(FEEDBACK_URL, json={"feedback": [overridden_item(card)]})
        assert posted.get_json()["stored"] == 1
    finally:
        close_store_app(first)

    restarted = make_store_app(store_url)
    try:
        again = restarted.test_client().post(
            FEEDBACK_URL, json={"feedback": [overridden_item(card)]}
        )
        assert again.get_json() == {"stored": 0, "duplicates": 1, "unmatched": 0}
        assert [row.overridden for row in store_of(restarted).rule_report()] == [1]
    finally:
        close_store_app(restarted)


# --- refusals: nothing stored ---


def test_accepted_suggestion_of_another_card_is_400_and_stores_nothing(
    store_app: Flask, store_client: Any
) -> None:
    dvt = issued_card(suggestions=(str(uuid.uuid4()),))
    other = issued_card(suggestions=(str(uuid.uuid4()),))
    store_of(store_app).record_issued([dvt, other])

    response = store_client.post(
        FEEDBACK_URL,
        json={"feedback": [overridden_item(other), accepted_item(dvt, other.suggestion_uuids[0])]},
    )

    assert response.status_code == 400
    assert diagnostics(response).startswith("feedback[1].acceptedSuggestions[0].id:")
    assert store_of(store_app).feedback_count() == 0


@pytest.mark.parametrize(
    ("second", "named"),
    [
        pytest.param(
            {"outcome": "accepted", "outcomeTimestamp": TS},
            "feedback[1].acceptedSuggestions",
            id="accepted-without-suggestions",
        ),
        pytest.param(
            {"outcome": "accepted", "acceptedSuggestions": [], "outcomeTimestamp": TS},
            "feedback[1].acceptedSuggestions",
            id="accepted-with-empty-suggestions",
        ),
        pytest.param(
            {"outcome": "ignored", "outcomeTimestamp": TS},
            "feedback[1].outcome",
            id="unknown-outcome",
        ),
        pytest.param(
            {"outcome": "overridden", "outcomeTimestamp": "2026-11-25T12:00:00"},
            "feedback[1].outcomeTimestamp",
            id="timestamp-without-offset",
        ),
        pytest.param(
            {"outcome": "overridden", "outcomeTimestamp": "25/11/2026"},
            "feedback[1].outcomeTimestamp",
            id="timestamp-not-rfc3339",
        ),
        pytest.param(
            {"outcome": "overridden"},
            "feedback[1].outcomeTimestamp",
            id="timestamp-missing",
        ),
        pytest.param(
            {"card": "not-a-uuid", "outcome": "overridden", "outcomeTimestamp": TS},
            "feedback[1].card",
            id="card-not-a-uuid",
        ),
        pytest.param(
            {
                "outcome": "overridden",
                "outcomeTimestamp": TS,
                "overrideReason": {"reason": {"system": OVERRIDE_SYSTEM}},
            },
            "feedback[1].overrideReason.reason.code",
            id="reason-without-code",
        ),
    ],
)
def test_an_invalid_second_entry_is_400_naming_it_and_stores_nothing(
    store_app: Flask, store_client: Any, second: dict[str, Any], named: str
) -> None:
    card = issued_card()
    store_of(store_app).record_issued([card])
    invalid = {"card": card.card_uuid, **second}

    response = store_client.post(FEEDBACK_URL, json={"feedback": [overridden_item(card), invalid]})

    assert response.status_code == 400
    assert named + ":" in diagnostics(response)
    assert store_of(store_app).feedback_count() == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-feedback"),
        pytest.param({"feedback": []}, id="empty-feedback"),
        pytest.param({"feedback": {"card": "x"}}, id="feedback-not-a-list"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_a_malformed_body_is_400(store_client: Any, body: Any) -> None:
    response = store_client.post(FEEDBACK_URL, json=body)

    assert response.status_code == 400
    assert diagnostics(response)


def test_unknown_service_is_404(store_client: Any) -> None:
    response = store_client.post(
        "/cds-services/no-such-service/feedback",
        json={"feedback": [overridden_item(str(uuid.uuid4()))]},
    )

    assert response.status_code == 404
    assert "no-such-service" in diagnostics(response)


# --- the database down ---


@pytest.mark.postgres
def test_feedback_is_503_with_retry_after_while_the_database_is_down() -> None:
    app = make_app_without_migrating(dead_postgres_url())
    try:
        response = app.test_client().post(
            FEEDBACK_URL, json={"feedback": [overridden_item(str(uuid.uuid4()))]}
        )
    finally:
        close_store_app(app)

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["issue"][0]["code"] == "transient"


def test_feedback_is_503_while_sqlite_cannot_be_opened(tmp_path: Path) -> None:
    app = make_app_without_migrating(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}")
    try:
        response = app.test_client().post(
            FEEDBACK_URL, json={"feedback": [overridden_item(str(uuid.uuid4()))]}
        )
    finally:
        close_store_app(app)

    assert response.status_code == 503
    assert "Retry-After" in response.headers


def make_app_without_migrating(url: str) -> Flask:
    from cds import create_app

    return create_app({"database_url": url, "auth_mode": "off"})


# --- cards are answered and recorded; feedback closes the loop ---


def sample_request() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (SAMPLES / "acute-limb-ischaemia-cold-pulseless-right-foot.json").read_text("utf-8")
    )
    return body


@pytest.mark.requirement("cds-hooks_2.0:82", "cds-hooks_2.0:148")
def test_issued_cards_are_recorded_and_their_feedback_matched(
    store_app: Flask, store_client: Any
) -> None:
    answer = store_client.post(f"/cds-services/{SERVICE}", json=sample_request())
    assert answer.status_code == 200
    cards = answer.get_json()["cards"]
    recorded = {card.card_uuid: card for card in store_of(store_app).issued_cards()}
    assert set(recorded) == {card["uuid"] for card in cards}

    with_suggestion = next(card for card in cards if card.get("suggestions"))
    suggestion_uuid = with_suggestion["suggestions"][0]["uuid"]
    response = store_client.post(
        FEEDBACK_URL,
        json={"feedback": [accepted_item(with_suggestion["uuid"], suggestion_uuid)]},
    )

    assert response.get_json() == {"stored": 1, "duplicates": 0, "unmatched": 0}
    rule_id = recorded[with_suggestion["uuid"]].rule_id
    row = next(row for row in store_of(store_app).rule_report() if row.rule_id == rule_id)
    assert row.accepted == 1


@pytest.mark.parametrize(
    ("sample", "key"),
    [
        pytest.param("cauda-equina-with-sciatica-and-weakness", "coveredBy", id="covered"),
        pytest.param("svt-and-varicose-veins-one-referral", "mergedInto", id="merged"),
    ],
)
def test_a_covered_or_merged_card_has_nothing_to_accept_and_its_override_counts(
    store_app: Flask, store_client: Any, sample: str, key: str
) -> None:
    # Issue 17.6 (clinical-rules §8.1, §8.2): the card keeps no suggestion of its own, and
    # the clinician's override of it is stored and counted in the rules report.
    body = json.loads((SAMPLES / f"{sample}.json").read_text("utf-8"))
    cards = store_client.post(f"/cds-services/{SERVICE}", json=body).get_json()["cards"]
    planned = [c for c in cards if key in c["extension"]["example.calf-cds"]]
    assert planned
    assert all("suggestions" not in card for card in planned)

    response = store_client.post(
        FEEDBACK_URL, json={"feedback": [overridden_item(card["uuid"]) for card in planned]}
    )

    assert response.get_json() == {"stored": len(planned), "duplicates": 0, "unmatched": 0}
    report = {row.rule_id: row for row in store_of(store_app).rule_report()}
    for card in planned:
        assert report[card["extension"]["example.calf-cds"]["ruleId"]].overridden == 1


@pytest.mark.postgres
def test_cards_are_still_answered_quickly_while_the_database_is_down() -> None:
    app = make_app_without_migrating(dead_postgres_url())
    try:
        client = app.test_client()
        started = time.monotonic()
        answer = client.post(f"/cds-services/{SERVICE}", json=sample_request())
        elapsed = time.monotonic() - started
    finally:
        close_store_app(app)

    assert answer.status_code == 200
    assert answer.get_json()["cards"]
    assert elapsed < 5


@pytest.mark.parametrize(
    "suggestion_id",
    [
        pytest.param("half an emoji \ud83d", id="lone-surrogate"),
        pytest.param("nul\x00inside", id="nul"),
    ],
)
def test_an_odd_suggestion_id_for_an_unknown_card_is_stored_as_sent(
    store_app: Flask, store_client: Any, suggestion_id: str
) -> None:
    item = accepted_item(str(uuid.uuid4()), suggestion_id)
    response = store_client.post(
        FEEDBACK_URL,
        data=json.dumps({"feedback": [item]}),  # \u escapes: valid JSON for both strings
        content_type="application/json",
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"stored": 1, "duplicates": 0, "unmatched": 1}


# --- the store never costs a card (issue 18.2) ---

HOOK_URL = f"/cds-services/{SERVICE}"
REFUSE_CARD_ROWS = {
    # PostgreSQL: the DataError a too-long value raises (SQLSTATE 22001).
    "postgresql": [
        "CREATE FUNCTION calf_cds_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
        "'refused' USING ERRCODE = 'string_data_right_truncation'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER calf_cds_refuse BEFORE INSERT ON issued_cards FOR EACH ROW "
        "EXECUTE FUNCTION calf_cds_refuse()",
    ],
    # SQLite: a constraint failure (IntegrityError).
    "sqlite": [
        "CREATE TRIGGER calf_cds_refuse BEFORE INSERT ON issued_cards "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
}


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("refuses-the-rows", id="refuses-the-rows"),
        pytest.param("table-missing", id="table-missing"),
    ],
)
def test_cards_are_answered_when_the_store_cannot_record_them(
    store_app: Flask,
    store_client: Any,
    store_url: str,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = store_of(store_app)
    if fault == "table-missing":
        execute_sql(store_url, "DROP TABLE issued_cards")
    else:
        execute_sql(store_url, *REFUSE_CARD_ROWS[store.dialect])
    logger = logging.getLogger("cds")  # it does not propagate to the root: listen on it
    logger.addHandler(caplog.handler)
    try:
        answer = store_client.post(HOOK_URL, json=sample_request())
    finally:
        logger.removeHandler(caplog.handler)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    codes = [card["source"].get("topic", {}).get("code", "") for card in answer.get_json()["cards"]]
    assert any(code.startswith("R-ALI") for code in codes)
    messages = [record.getMessage() for record in caplog.records]
    assert "cards not recorded: store unavailable" in messages
    assert any(message.startswith("store ") for message in messages)  # the cause, by class


@pytest.mark.parametrize(
    "hook_instance",
    [
        pytest.param(
            "urn:uuid:" + "{" * 200 + "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea" + "}" * 13,
            id="258-characters-that-uuid-UUID-reads",
        ),
        pytest.param("urn:uuid:d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", id="urn-uuid"),
        pytest.param("{d1577c69-dfbe-44ad-ba6d-3e05e953b2ea}", id="braces"),
        pytest.param("d1577c69dfbe44adba6d3e05e953b2ea", id="no-hyphens"),
        pytest.param("d1577c69-dfbe-44ad-ba6d-3e05e953b2e٣", id="non-ascii-digit"),
    ],
)
def test_a_hook_instance_that_is_not_a_uuid_string_is_400_and_records_nothing(
    store_app: Flask, store_client: Any, hook_instance: str
) -> None:
    body = sample_request()
    body["hookInstance"] = hook_instance

    response = store_client.post(HOOK_URL, json=body)

    assert response.status_code == 400
    assert response.get_json()["issue"] == [
        {
            "severity": "error",
            "code": "invalid",
            "diagnostics": "hookInstance: must be a UUID in its 36-character form, "
            "e.g. d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        }
    ]
    assert store_of(store_app).issued_cards() == []


def test_an_upper_case_hook_instance_is_a_uuid_and_recorded_as_sent(
    store_app: Flask, store_client: Any
) -> None:
    body = sample_request()
    body["hookInstance"] = "D1577C69-DFBE-44AD-BA6D-3E05E953B2EA"

    response = store_client.post(HOOK_URL, json=body)

    assert response.status_code == 200
    recorded = store_of(store_app).issued_cards()
    assert recorded
    assert {card.hook_instance for card in recorded} == {body["hookInstance"]}


# --- two processes posting at once ---

HTTP_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from cds import create_app

    url, go, ready, card, first, last = sys.argv[1:7]
    app = create_app({"database_url": url, "auth_mode": "off", "log_level": "ERROR"})
    client = app.test_client()
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    totals = {"stored": 0, "duplicates": 0}
    for n in range(int(first), int(last), 2):
        items = [
            {"card": card, "outcome": "overridden",
             "outcomeTimestamp": f"2026-11-25T12:00:{s:02d}Z"}
            for s in (n, n + 1)
        ]
        response = client.post(
            "/cds-services/calf-pain-triage/feedback", json={"feedback": items}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        totals["stored"] += body["stored"]
        totals["duplicates"] += body["duplicates"]
    app.extensions["calf-cds"].store.close()
    print(json.dumps(totals))
    """
)


def test_concurrent_feedback_posts_from_two_processes_count_exactly(
    store_app: Flask, store_url: str, tmp_path: Path
) -> None:
    card = issued_card()
    store_of(store_app).record_issued([card])
    # Process A posts timestamps 0..39, B 20..59: 20 entries overlap, 60 are distinct.
    totals = run_concurrent_writers(
        HTTP_WRITER, store_url, card.card_uuid, [(0, 40), (20, 60)], tmp_path
    )

    assert sum(t["stored"] for t in totals) == 60
    assert sum(t["duplicates"] for t in totals) == 20
    assert store_of(store_app).feedback_count() == 60
