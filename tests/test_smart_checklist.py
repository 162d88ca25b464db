"""The red-flag check's questions, generated from the finding catalog (issue 20, item 3), and
the Questionnaire calf-cds publishes for them (item 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import pytest
from conftest import SAMPLE_CLOCK

from cds.config import Settings
from cds.core import findings as cat
from cds.core.card_text import SIDED_FINDINGS
from cds.core.model import Side
from cds.core.rules import WELLS_FINDINGS
from cds.core.wording import CHECKLISTS
from cds.fhir import reading
from cds.fhir.bundle import flatten
from cds.fhir.resources import problems
from cds.smart.answers import Statement
from cds.smart.checklist import (
    WEAKENING_TAGS,
    Row,
    all_rows,
    asked_findings,
    bedside_items,
    sections,
    sections_for,
)
from cds.smart.questionnaire import OBSERVATION_EXTRACT, as_json, canonical_url
from cds.smart.writeback import Author, observation

BASE = "http://calf-cds.example/fhir"
NOW = datetime.fromisoformat(SAMPLE_CLOCK.replace("Z", "+00:00"))
ROWS = {row.key: row for row in all_rows()}


def read_back(row_key: str, side: Side, present: bool) -> list[tuple[str, bool, Side]]:
    """What the hook's reader makes of the Observation the app writes for one answer."""
    resource = observation(
        Statement(ROWS[row_key], side, present),
        Author("Patient/p1", "Practitioner/u1", NOW),
        fhir_base=BASE,
        derived_from="QuestionnaireResponse/q1",
    ).model_dump(mode="json", exclude_none=True)
    resource["id"] = "o1"
    written = msgspec.Raw(
        msgspec.json.encode({"resourceType": "Bundle", "entry": [{"resource": resource}]})
    )
    extraction = reading.read(
        flatten(written, "Bundle"), policy=Settings.load({}, environ={}).policy, now=NOW
    )
    return sorted((f.finding_id, f.present, f.side) for f in extraction.findings)


def test_every_wells_item_is_asked() -> None:
    asked = {finding for row in all_rows() for finding in row.findings}

    assert set(WELLS_FINDINGS) <= asked


def test_every_bedside_checklist_finding_with_a_presence_code_is_asked() -> None:
    asked = {finding for row in all_rows() for finding in row.findings}
    answerable = {
        finding
        for item in bedside_items()
        for finding in item.findings
        if any(not (c.tags & WEAKENING_TAGS) for c in cat.FINDINGS[finding].codes)
    }

    assert answerable <= asked
    # Lab values and vitals (an analyte) are never asked at the bedside.
    assert not {"F-CK", "F-ABI", "F-D-DIMER", "F-SEVERE-ELECTROLYTE"} & asked


@pytest.mark.parametrize("row", all_rows(), ids=lambda row: row.key)
def test_each_row_writes_a_catalog_code_of_its_finding(row: Row) -> None:
    entries = cat.CODE_INDEX[(row.code.system, row.code.code)]
    assert row.finding_id in {entry.finding.finding_id for entry in entries}
    assert not row.code.tags & WEAKENING_TAGS  # never weaker evidence than the row says
    if row.code.is_local:  # a local code only where its concept has no standard one
        standard = [
            c
            for c in cat.FINDINGS[row.finding_id].codes
            if not c.is_local and c.indexed and not c.tags & WEAKENING_TAGS and not c.bilateral
        ]
        assert all((c.system, c.code) not in row.sources for c in standard)


@pytest.mark.parametrize("row", all_rows(), ids=lambda row: row.key)
@pytest.mark.parametrize("present", [True, False], ids=["present", "absent"])
def test_what_the_app_writes_reads_back_as_the_row_says(row: Row, present: bool) -> None:
    side = Side.LEFT if row.sided else Side.UNKNOWN

    found = read_back(row.key, side, present)

    assert found
    assert {finding for finding, _, _ in found} == set(row.findings)
    assert all(is_present is present for _, is_present, _ in found)
    assert all(found_side is side for _, _, found_side in found)


def test_concepts_of_one_finding_get_their_own_rows() -> None:
    """A cold leg is not a pale leg, and paresis is not a plaster cast: each is answered and
    written as itself (the catalog's tags tell them apart)."""
    assert ROWS["F-COLD-LIMB.cold"].code.code == "771542000"
    assert ROWS["F-COLD-LIMB.pallor"].code.code == "pallor-of-leg"
    assert ROWS["F-PARESIS-OR-CAST.other"].code.code == "recent-plaster-immobilisation"
    paresis = ROWS["F-SENSORY-MOTOR-LOSS.motor"]
    assert paresis.code.code == "102568007"
    assert paresis.findings == {"F-PARESIS-OR-CAST", "F-SENSORY-MOTOR-LOSS"}
    assert not any(key.startswith("F-PARESIS-OR-CAST.motor") for key in ROWS)  # one row a code


def test_standard_codes_are_preferred_and_weak_ones_never_used() -> None:
    assert ROWS["F-PITTING-EDEMA"].code.code == "284521000"  # SNOMED, not the local code
    # SNOMED 247348008 "Tenderness" reads as calf tenderness not along the deep veins: the
    # row asks about the deep veins, so it writes the local code that says so.
    assert ROWS["F-DEEP-VEIN-TENDERNESS"].code.code == "deep-vein-tenderness"
    assert "F-SKIN-DISCOLOURATION" not in {r.finding_id for r in all_rows()}  # supporting only


def test_leg_findings_are_asked_per_leg() -> None:
    for row in all_rows():
        if row.finding_id in SIDED_FINDINGS:
            assert row.sided, row.key
    assert not ROWS["F-ACTIVE-CANCER"].sided
    assert ROWS["F-RADICULAR"].sided  # the spinal checklist asks for both legs


def test_a_card_asks_its_missing_items_and_always_the_wells_items() -> None:
    shown = sections_for(asked_findings(["F-WARMTH", "F-FEVER"]))
    keys = {row.key for section in shown for row in section.rows}

    assert {"F-WARMTH", "F-FEVER"} <= keys
    assert {row.key for row in all_rows() if row.findings & set(WELLS_FINDINGS)} <= keys
    assert "F-COLD-LIMB.pallor" not in keys  # not asked by this card


def test_without_app_context_the_default_check_is_asked() -> None:
    keys = {row.key for s in sections_for(asked_findings(None)) for row in s.rows}
    wanted = {f for item in CHECKLISTS["general"] for f in item.findings}

    assert {row.key for row in all_rows() if row.findings & wanted} <= keys


def test_sections_follow_a_leg_examination() -> None:
    assert [section.key for section in sections()] == [
        "history",
        "look",
        "feel",
        "nerves",
        "general",
        "judgement",
    ]


def test_the_questionnaire_is_valid_fhir_and_in_the_sdc_extraction_shape() -> None:
    document = as_json(BASE)

    assert problems(document) == []
    assert document["url"] == canonical_url(BASE)
    assert document["status"] == "active"
    answerable = [
        item
        for group in document["item"]
        for question in group["item"]
        for item in ([question] if question["type"] == "boolean" else question["item"])
    ]
    assert len(answerable) == sum(2 if row.sided else 1 for row in all_rows())
    for item in answerable:
        assert item["type"] == "boolean"
        assert item["extension"] == [{"url": OBSERVATION_EXTRACT, "valueBoolean": True}]
        (coding,) = item["code"]
        assert coding["system"] in {cat.SNOMED, BASE + cat.LOCAL_FINDING_SYSTEM_SUFFIX}
    codes = {(c["system"], c["code"]) for item in answerable for c in item["code"]}
    assert (cat.SNOMED, "284521000") in codes


def test_the_questionnaire_is_served_as_fhir(client: Any) -> None:
    response = client.get("/fhir/Questionnaire/calf-red-flag-check")
    missing = client.get("/fhir/Questionnaire/other")

    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    assert response.get_json() == as_json(BASE)
    assert missing.status_code == 404
    assert missing.get_json()["resourceType"] == "OperationOutcome"


def test_a_statement_about_both_legs_reads_as_bilateral() -> None:
    """So bilateral pitting oedema never counts as the one-sided Wells item (§2)."""
    found = read_back("F-PITTING-EDEMA", Side.BILATERAL, True)

    assert found == [("F-PITTING-EDEMA", True, Side.BILATERAL)]
