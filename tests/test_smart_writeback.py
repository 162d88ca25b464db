"""What the red-flag check writes (issue 20, item 4): the statements an answer makes, and the
transaction Bundle, every resource in it valid under fhir.resources; and what it pre-fills."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import SAMPLE_CLOCK

from cds.core import findings as cat
from cds.core.model import TAG_NOT_DEEP_VEIN, Code, Finding, Side
from cds.fhir.resources import problems
from cds.smart.answers import InvalidAnswers, Statement, parse, statements
from cds.smart.checklist import all_rows
from cds.smart.oauth import SCOPES, may_create
from cds.smart.prefill import Choice, prefill
from cds.smart.writeback import Author, transaction

BASE = "http://calf-cds.example/fhir"
NOW = datetime.fromisoformat(SAMPLE_CLOCK.replace("Z", "+00:00"))
ROWS = {row.key: row for row in all_rows()}
AUTHOR = Author("Patient/p1", "Practitioner/u1", NOW)
NOT_DEEP_VEIN = frozenset({TAG_NOT_DEEP_VEIN})


def record(
    finding_id: str,
    code: str,
    *,
    present: bool = True,
    side: Side = Side.UNKNOWN,
    days_ago: float | None = 1,
    tags: frozenset[str] = frozenset(),
) -> Finding:
    return Finding(
        finding_id=finding_id,
        present=present,
        reference=f"Observation/{finding_id}-{code}-{side.value}-{present}",
        name=finding_id,
        code=Code(cat.SNOMED, code),
        when=None if days_ago is None else NOW - timedelta(days=days_ago),
        in_window=True,
        side=side,
        tags=tags,
    )


# --- statements -------------------------------------------------------------------------------


def test_answers_already_on_record_are_not_written_again() -> None:
    rows = [ROWS["F-ACTIVE-CANCER"], ROWS["F-FEVER"]]
    answers = parse(rows, {"F-ACTIVE-CANCER": "absent", "F-FEVER": "absent"})

    made = statements(rows, answers, {"F-ACTIVE-CANCER": "absent"})

    assert [(s.row.key, s.present) for s in made] == [("F-FEVER", False)]


def test_not_examined_writes_nothing_even_over_a_record() -> None:
    rows = [ROWS["F-FEVER"]]

    made = statements(rows, parse(rows, {"F-FEVER": "not-examined"}), {"F-FEVER": "present"})

    assert made == []


def test_the_same_answer_on_both_legs_is_one_bilateral_statement() -> None:
    row = ROWS["F-PITTING-EDEMA"]
    form = {"F-PITTING-EDEMA:left": "present", "F-PITTING-EDEMA:right": "present"}

    (made,) = statements([row], parse([row], form), {})

    assert made == Statement(row, Side.BILATERAL, True)
    assert made.fields == ("F-PITTING-EDEMA:left", "F-PITTING-EDEMA:right")


def test_different_answers_per_leg_are_one_statement_each() -> None:
    row = ROWS["F-PITTING-EDEMA"]
    form = {"F-PITTING-EDEMA:left": "present", "F-PITTING-EDEMA:right": "absent"}

    made = statements([row], parse([row], form), {})

    assert made == [Statement(row, Side.LEFT, True), Statement(row, Side.RIGHT, False)]


def test_a_leg_answered_as_recorded_is_not_repeated_beside_the_other() -> None:
    row = ROWS["F-WARMTH"]
    form = {"F-WARMTH:left": "absent", "F-WARMTH:right": "absent"}

    made = statements([row], parse([row], form), {"F-WARMTH:left": "absent"})

    assert made == [Statement(row, Side.RIGHT, False)]


def test_an_unknown_answer_is_refused_by_field_name() -> None:
    rows = [ROWS["F-FEVER"], ROWS["F-WARMTH"]]

    with pytest.raises(InvalidAnswers) as raised:
        parse(rows, {"F-FEVER": "yes", "F-WARMTH:left": "<script>"})

    assert raised.value.fields == ["F-FEVER", "F-WARMTH:left"]


def test_fields_of_questions_not_shown_are_ignored() -> None:
    rows = [ROWS["F-FEVER"]]

    answers = parse(rows, {"F-FEVER": "present", "F-ACTIVE-CANCER": "present"})

    assert answers == {"F-FEVER": Choice.PRESENT}


# --- the transaction --------------------------------------------------------------------------


def every_statement() -> list[Statement]:
    out = []
    for index, row in enumerate(all_rows()):
        side = (Side.LEFT, Side.RIGHT, Side.BILATERAL)[index % 3] if row.sided else Side.UNKNOWN
        out.append(Statement(row, side, index % 2 == 0))
    return out


def test_every_written_resource_and_the_bundle_validate_under_fhir_resources() -> None:
    made = transaction(every_statement(), AUTHOR, fhir_base=BASE)
    bundle = made.bundle

    assert problems(bundle) == []
    assert bundle["type"] == "transaction"
    assert len(bundle["entry"]) == len(every_statement()) + 1
    for entry in bundle["entry"]:
        assert problems(entry["resource"]) == [], entry["resource"]
        assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
        assert entry["fullUrl"].startswith("urn:uuid:")


def test_each_observation_has_the_shape_of_issue_20() -> None:
    left = Statement(ROWS["F-PITTING-EDEMA"], Side.LEFT, True)
    absent = Statement(ROWS["F-ACTIVE-CANCER"], Side.UNKNOWN, False)

    entries = transaction([left, absent], AUTHOR, fhir_base=BASE).bundle["entry"]
    oedema, cancer, response = (entry["resource"] for entry in entries)

    assert oedema["status"] == "final"
    assert oedema["category"][0]["coding"][0]["code"] == "exam"
    assert oedema["code"]["coding"] == [
        {"system": cat.SNOMED, "code": "284521000", "display": "Pitting edema"}
    ]
    assert oedema["valueBoolean"] is True
    assert oedema["subject"] == {"reference": "Patient/p1"}
    assert oedema["performer"] == [{"reference": "Practitioner/u1"}]
    assert oedema["effectiveDateTime"] == "2026-11-25T12:00:00Z"
    assert oedema["bodySite"]["coding"] == [
        {"system": cat.SNOMED, "code": "61685007", "display": "Lower limb structure"},
        {"system": cat.SNOMED, "code": cat.LEFT_CODE, "display": "Left"},
    ]
    assert oedema["derivedFrom"] == [{"reference": entries[2]["fullUrl"]}]
    assert cancer["valueBoolean"] is False  # the explicit absence the reader reads (§2)
    assert "bodySite" not in cancer
    assert response["resourceType"] == "QuestionnaireResponse"


def test_the_questionnaire_response_holds_the_same_answers() -> None:
    both = Statement(ROWS["F-WARMTH"], Side.BILATERAL, False)
    fever = Statement(ROWS["F-FEVER"], Side.UNKNOWN, True)

    entries = transaction([both, fever], AUTHOR, fhir_base=BASE).bundle["entry"]
    response = entries[-1]["resource"]

    assert response["questionnaire"].startswith(BASE + "/Questionnaire/calf-red-flag-check|")
    assert response["status"] == "completed"
    assert response["author"] == {"reference": "Practitioner/u1"}
    answers = {
        leaf["linkId"]: leaf["answer"][0]["valueBoolean"]
        for section in response["item"]
        for question in section["item"]
        for leaf in question.get("item", [question])
    }
    assert answers == {"F-WARMTH:left": False, "F-WARMTH:right": False, "F-FEVER": True}


def test_without_fhir_user_nothing_names_a_performer() -> None:
    made = transaction(
        [Statement(ROWS["F-FEVER"], Side.UNKNOWN, True)],
        Author("Patient/p1", None, NOW),
        fhir_base=BASE,
    )

    observation, response = (entry["resource"] for entry in made.bundle["entry"])
    assert "performer" not in observation
    assert "author" not in response


def test_nothing_to_write_is_refused_before_anything_is_built() -> None:
    with pytest.raises(ValueError, match="nothing to write"):
        transaction([], AUTHOR, fhir_base=BASE)


# --- pre-fill ---------------------------------------------------------------------------------


def test_the_latest_record_pre_fills_each_leg_with_its_date() -> None:
    row = ROWS["F-PITTING-EDEMA"]
    findings = [
        record("F-PITTING-EDEMA", "284521000", side=Side.LEFT, days_ago=3),
        record("F-PITTING-EDEMA", "284521000", side=Side.LEFT, present=False, days_ago=1),
        record("F-PITTING-EDEMA", "284521000", side=Side.RIGHT, days_ago=2),
    ]

    filled = prefill([row], findings)

    assert filled.choice("F-PITTING-EDEMA:left") is Choice.ABSENT
    assert filled.recorded["F-PITTING-EDEMA:left"].date == "2026-11-24"
    assert filled.choice("F-PITTING-EDEMA:right") is Choice.PRESENT


def test_a_presence_without_a_side_fills_no_leg_but_an_absence_fills_both() -> None:
    row = ROWS["F-LEG-SWELLING"]

    presence = prefill([row], [record("F-LEG-SWELLING", "449615005")])
    absence = prefill([row], [record("F-LEG-SWELLING", "449615005", present=False)])

    assert presence.recorded == {}
    assert "F-LEG-SWELLING" in presence.without_side
    assert absence.choice("F-LEG-SWELLING:left") is Choice.ABSENT
    assert absence.choice("F-LEG-SWELLING:right") is Choice.ABSENT


def test_weaker_evidence_and_undated_absences_pre_fill_nothing() -> None:
    tender = ROWS["F-DEEP-VEIN-TENDERNESS"]
    fever = ROWS["F-FEVER"]
    findings = [
        record(
            "F-DEEP-VEIN-TENDERNESS",
            "247348008",
            side=Side.LEFT,
            tags=frozenset({TAG_NOT_DEEP_VEIN}),
        ),
        record("F-FEVER", "386661006", present=False, days_ago=None),
    ]

    filled = prefill([tender, fever], findings)

    assert filled.recorded == {}


def test_a_measured_record_pre_fills_its_finding() -> None:
    """A calf 3.5 cm larger (a measurement) answers "calf swelling of 3 cm or more"."""
    row = ROWS["F-CALF-SWELLING-3CM"]
    measured = record("F-CALF-SWELLING-3CM", "calf-circumference-difference", side=Side.LEFT)

    filled = prefill([row], [measured])

    assert filled.choice("F-CALF-SWELLING-3CM:left") is Choice.PRESENT


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        pytest.param(SCOPES, True, id="as-requested"),
        pytest.param("", True, id="scope-omitted-means-as-requested"),
        pytest.param("launch patient/Observation.rs patient/Observation.c", False, id="withheld"),
        pytest.param("patient/QuestionnaireResponse.cu", True, id="v2-permissions"),
        pytest.param("user/QuestionnaireResponse.c", True, id="user-context"),
        pytest.param("patient/*.cruds", True, id="v2-wildcard"),
        pytest.param("patient/QuestionnaireResponse.write", True, id="v1-write"),
        pytest.param("patient/*.*", True, id="v1-wildcard"),
        pytest.param("patient/QuestionnaireResponse.rs", False, id="read-only"),
        pytest.param("patient/QuestionnaireResponse.read", False, id="v1-read"),
        pytest.param("patient/Observation.c", False, id="another-type"),
        pytest.param("patient/QuestionnaireResponse.c?status=completed", True, id="v2-granular"),
    ],
)
def test_the_granted_scope_says_whether_a_resource_may_be_created(
    granted: str, expected: bool
) -> None:
    assert may_create(granted, "QuestionnaireResponse") is expected


def test_without_the_questionnaire_response_the_observations_derive_from_nothing() -> None:
    statements_ = [Statement(ROWS["F-FEVER"], Side.UNKNOWN, False)]

    written = transaction(statements_, AUTHOR, fhir_base=BASE, with_response=False)

    (entry,) = written.bundle["entry"]
    assert entry["resource"]["resourceType"] == "Observation"
    assert "derivedFrom" not in entry["resource"]
    assert problems(written.bundle) == []
