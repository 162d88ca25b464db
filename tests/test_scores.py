"""Two-level DVT Wells (§5, NICE NG158), principle 4 and 5, D-dimer cut-offs, CK multiples."""

from __future__ import annotations

import pytest
from finding_factory import B, L, extraction, f

from cds import scores
from cds.engine import FindingSet, evaluate
from cds.model import TAG_DDU, TAG_NOT_DEEP_VEIN, Finding
from cds.scores import (
    ABSENT,
    INCOMPLETE,
    LIKELY,
    NOT_APPLICABLE,
    NOT_RECORDED,
    PRESENT,
    UNLIKELY,
    WELLS_ITEMS,
    ck_multiple,
    d_dimer_cutoff,
    wells,
)

ITEM_IDS = [finding_id for finding_id, _, _ in WELLS_ITEMS]


def all_absent(*, except_: tuple[str, ...] = ()) -> list[Finding]:
    """A dated explicit absence for every Wells item not in `except_`."""
    return [f(fid, present=False) for fid in ITEM_IDS if fid not in except_]


def status(result: scores.WellsResult, finding_id: str) -> str:
    return next(i.status for i in result.items if i.finding_id == finding_id)


def test_wells_lists_the_ten_items_of_ng158_table_1() -> None:
    assert len(WELLS_ITEMS) == 10
    assert scores.WELLS_MAX == 9
    assert dict((fid, pts) for fid, _, pts in WELLS_ITEMS)["F-ALTERNATIVE-DX-LIKELY"] == -2


def test_complete_likely() -> None:
    records = [
        *all_absent(except_=("F-ACTIVE-CANCER", "F-PREVIOUS-DVT")),
        f("F-ACTIVE-CANCER"),
        f("F-PREVIOUS-DVT"),
    ]

    result = wells(FindingSet(records))

    assert result.classification == LIKELY
    assert result.score == 2
    assert "DVT likely" in result.statement
    assert "alternative-diagnosis item absent" in result.statement
    assert result.next_step == scores.STEP_LIKELY
    assert "ultrasound within 4 hours" in result.next_step


def test_likely_says_when_the_judgement_item_is_unrecorded() -> None:
    result = wells(FindingSet([f("F-ENTIRE-LEG-SWOLLEN"), f("F-CALF-SWELLING-3CM")]))

    assert result.classification == LIKELY
    assert "alternative-diagnosis item not recorded" in result.statement
    assert (result.low, result.high) == (0, 9)


def test_likely_counts_the_judgement_item_when_present() -> None:
    records = [f(fid) for fid in ITEM_IDS[:3]] + [f("F-ALTERNATIVE-DX-LIKELY")]

    result = wells(FindingSet(records))

    assert result.score == 1
    assert result.classification == INCOMPLETE


def test_complete_unlikely_gives_the_d_dimer_step() -> None:
    result = wells(FindingSet([*all_absent(except_=("F-PREVIOUS-DVT",)), f("F-PREVIOUS-DVT")]))

    assert result.classification == UNLIKELY
    assert result.score == 1
    assert result.statement.startswith("DVT unlikely")
    assert result.next_step == scores.STEP_UNLIKELY


def test_unlikely_with_a_positive_d_dimer_gives_the_scan_step() -> None:
    result = wells(FindingSet([*all_absent(), f("F-D-DIMER", value=900, unit="ng/mL")]))

    assert result.classification == UNLIKELY
    assert result.next_step == scores.STEP_D_DIMER_POSITIVE


def test_alternative_diagnosis_makes_an_otherwise_likely_score_unlikely_when_complete() -> None:
    records = [
        *all_absent(except_=("F-ACTIVE-CANCER", "F-PREVIOUS-DVT", "F-ALTERNATIVE-DX-LIKELY")),
        f("F-ACTIVE-CANCER"),
        f("F-PREVIOUS-DVT"),
        f("F-ALTERNATIVE-DX-LIKELY"),
    ]

    result = wells(FindingSet(records))

    assert (result.score, result.classification) == (0, UNLIKELY)


def test_incomplete_never_says_unlikely_and_takes_the_likely_step() -> None:
    result = wells(FindingSet([*all_absent(except_=("F-PARESIS-OR-CAST",))]))

    assert result.classification == INCOMPLETE
    assert result.statement.startswith("Wells incomplete: 0 points recorded, up to 1")
    assert "unlikely" not in result.statement.lower()
    assert scores.STEP_LIKELY in result.next_step
    assert result.not_recorded == (
        "Paralysis, paresis or recent plaster immobilisation of the legs",
    )


def test_an_undated_absence_does_not_fill_an_item() -> None:
    records = [
        *all_absent(except_=("F-COLLATERAL-VEINS",)),
        f("F-COLLATERAL-VEINS", present=False, days_ago=None),
    ]

    result = wells(FindingSet(records))

    assert status(result, "F-COLLATERAL-VEINS") == NOT_RECORDED
    assert result.classification == INCOMPLETE
    assert any("undated absence" in i.note for i in result.items)


def test_range_reaches_minus_two_while_the_judgement_item_is_unrecorded() -> None:
    result = wells(FindingSet(all_absent(except_=("F-ALTERNATIVE-DX-LIKELY",))))

    assert (result.score, result.low, result.high) == (0, -2, 0)
    assert result.classification == INCOMPLETE


def test_the_dvt_counted_as_f_dvt_dx_is_not_also_a_previous_dvt() -> None:
    same = "Condition/dvt-1"
    records = [f("F-DVT-DX", reference=same), f("F-PREVIOUS-DVT", reference=same)]

    result = wells(FindingSet(records))

    assert status(result, "F-PREVIOUS-DVT") != PRESENT


def test_an_older_dvt_still_counts_as_previous_dvt_beside_a_current_one() -> None:
    records = [
        f("F-DVT-DX", reference="Condition/new"),
        f("F-PREVIOUS-DVT", reference="Condition/old"),
    ]

    assert status(wells(FindingSet(records)), "F-PREVIOUS-DVT") == PRESENT


def test_bilateral_pitting_oedema_does_not_score_and_is_not_an_absence() -> None:
    result = wells(FindingSet([f("F-PITTING-EDEMA", side=B)]))

    assert status(result, "F-PITTING-EDEMA") == NOT_RECORDED
    assert wells(FindingSet([f("F-PITTING-EDEMA", side=L)])).score == 1


def test_tenderness_not_localised_to_the_deep_veins_is_noted() -> None:
    result = wells(FindingSet([f("F-DEEP-VEIN-TENDERNESS", tags={TAG_NOT_DEEP_VEIN})]))

    item = next(i for i in result.items if i.finding_id == "F-DEEP-VEIN-TENDERNESS")
    assert item.status == PRESENT
    assert item.note == "tenderness not localised to the deep veins"


@pytest.mark.parametrize(
    ("records", "age"),
    [
        pytest.param([], 17, id="under-18"),
        pytest.param([f("F-PREGNANT")], 30, id="pregnant"),
        pytest.param([f("F-ANTICOAGULATED")], 70, id="anticoagulated"),
    ],
)
def test_principle_5_states_no_likely_or_unlikely_and_no_age_adjusted_cutoff(
    records: list[Finding], age: int
) -> None:
    dvt = [f("F-CALF-PAIN"), f("F-LEG-SWELLING", side=L), f("F-ACTIVE-CANCER"), f("F-PREVIOUS-DVT")]

    fired = evaluate(extraction(*dvt, *records, age=age)).fired_rule("R-DVT-PATHWAY")

    assert fired is not None
    assert fired.wells is not None
    assert fired.d_dimer is not None
    assert fired.wells.classification == NOT_APPLICABLE
    text = (fired.wells.statement + fired.wells.next_step).lower()
    assert "likely" not in text
    assert "validated scores do not apply; assess clinically" in text
    assert not fired.d_dimer.age_adjusted
    assert fired.d_dimer.cutoff_ng_ml == 500


@pytest.mark.parametrize(
    ("age", "cutoff", "adjusted"),
    [
        pytest.param(72, 720.0, True, id="over-50"),
        pytest.param(51, 510.0, True, id="just-over-50"),
        pytest.param(50, 500.0, False, id="fifty"),
        pytest.param(None, 500.0, False, id="age-unknown"),
    ],
)
def test_age_adjusted_d_dimer_cutoff(age: int | None, cutoff: float, adjusted: bool) -> None:
    assert d_dimer_cutoff(age) == (cutoff, adjusted)


def test_age_adjusted_cutoff_is_stated_and_never_suppresses_the_card() -> None:
    d_dimer = f("F-D-DIMER", value=600, unit="ng/mL")

    fired = evaluate(extraction(f("F-CALF-PAIN"), d_dimer, age=80)).fired_rule("R-DVT-PATHWAY")

    assert fired is not None
    assert fired.d_dimer is not None
    assert "800 ng/mL FEU" in fired.d_dimer.statement
    assert "below the age-adjusted cut-off" in fired.d_dimer.statement
    assert "complete and unlikely" in fired.d_dimer.statement


def test_ddu_results_are_not_age_adjusted() -> None:
    d_dimer = f("F-D-DIMER", value=300, unit="ng/mL", tags={TAG_DDU})

    note = scores.d_dimer_note(FindingSet([d_dimer]), age_years=80, scores_apply=True)

    assert "below the age-adjusted" not in note.statement
    assert "FEU results only" in note.statement


def test_unknown_age_d_dimer_statement_says_so() -> None:
    note = scores.d_dimer_note(FindingSet([]), age_years=None, scores_apply=True)

    assert "Age unknown" in note.statement
    assert "500 ng/mL FEU" in note.statement


def test_wells_wire_form_omits_empty_fields() -> None:
    wire = wells(FindingSet(all_absent())).as_wire()

    assert "notRecorded" not in wire
    assert wire["classification"] == UNLIKELY
    assert all(item["status"] == ABSENT for item in wire["items"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "uln", "expected"),
    [
        pytest.param(8000, 200, 40.0, id="uln-from-reference-range"),
        pytest.param(2000, None, 10.0, id="default-uln"),
        pytest.param(2000, 0, 10.0, id="zero-uln-falls-back"),
    ],
)
def test_ck_multiple_of_uln(value: float, uln: float | None, expected: float) -> None:
    assert ck_multiple(value, uln) == expected
