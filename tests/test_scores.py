"""Scores (clinical-rules.md §5, rule set 2026.2): the two-level Wells score and D-dimer results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from finding_factory import NOW, B, L, f

from cds.core.findingset import FindingSet
from cds.core.model import (
    FLAG_ABNORMAL,
    FLAG_HIGH,
    FLAG_NEGATIVE,
    FLAG_NORMAL,
    FLAG_POSITIVE,
    TAG_MEASURED,
    TAG_NOT_DEEP_VEIN,
    Finding,
)
from cds.core.rules import WELLS_FINDINGS
from cds.core.scores import (
    ABSENT,
    INCOMPLETE,
    LIKELY,
    NEGATIVE,
    NOT_RECORDED,
    POSITIVE,
    PRESENT,
    UNLIKELY,
    UNUSABLE,
    WELLS_MAX,
    d_dimers,
    first_dated,
    wells,
)

OTHERS = [item for item in WELLS_FINDINGS if item not in {"F-DEEP-VEIN-TENDERNESS"}]


def all_absent(*except_: str) -> list[Finding]:
    return [f(item, present=False) for item in WELLS_FINDINGS if item not in except_]


def test_wells_lists_the_ten_items_of_ng158_table_1() -> None:
    result = wells(FindingSet([]))

    assert [i.finding_id for i in result.items] == list(WELLS_FINDINGS)
    assert [i.points for i in result.items] == [1] * 9 + [-2]
    assert WELLS_MAX == 9


def test_likely_when_present_items_reach_two() -> None:
    result = wells(FindingSet([f("F-PITTING-EDEMA", side=L), f("F-PREVIOUS-DVT")]))

    assert (result.classification, result.score) == (LIKELY, 2)
    assert result.alternative.status == NOT_RECORDED
    assert (result.low, result.high) == (0, 9)


def test_unlikely_only_when_every_item_is_recorded() -> None:
    records = [f("F-DEEP-VEIN-TENDERNESS"), *all_absent("F-DEEP-VEIN-TENDERNESS")]

    result = wells(FindingSet(records))

    assert (result.classification, result.score, result.not_recorded) == (UNLIKELY, 1, ())


def test_incomplete_never_says_unlikely() -> None:
    records = [
        f("F-DEEP-VEIN-TENDERNESS"),
        *all_absent("F-DEEP-VEIN-TENDERNESS", "F-ACTIVE-CANCER"),
    ]

    result = wells(FindingSet(records))

    assert result.classification == INCOMPLETE
    assert [i.finding_id for i in result.not_recorded] == ["F-ACTIVE-CANCER"]
    assert result.high == 2


def test_alternative_diagnosis_makes_a_complete_two_unlikely() -> None:
    records = [
        f("F-PITTING-EDEMA", side=L),
        f("F-PREVIOUS-DVT"),
        f("F-ALTERNATIVE-DX-LIKELY"),
        *all_absent("F-PITTING-EDEMA", "F-PREVIOUS-DVT", "F-ALTERNATIVE-DX-LIKELY"),
    ]

    result = wells(FindingSet(records))

    assert (result.classification, result.score) == (UNLIKELY, 0)


def test_an_undated_absence_fills_no_item() -> None:
    result = wells(FindingSet([f("F-ACTIVE-CANCER", present=False, days_ago=None)]))

    assert result.items[0].status == NOT_RECORDED


def test_a_dated_measurement_short_of_its_threshold_is_an_absence() -> None:
    """§2 (2026.2): a calf-circumference difference of 1.0 cm records F-CALF-SWELLING-3CM absent."""
    short = f("F-CALF-SWELLING-3CM", present=False, value=1.0, unit="cm", tags={TAG_MEASURED})

    item = next(
        i for i in wells(FindingSet([short])).items if i.finding_id == "F-CALF-SWELLING-3CM"
    )

    assert item.status == ABSENT


def test_bilateral_pitting_oedema_does_not_score() -> None:
    item = wells(FindingSet([f("F-PITTING-EDEMA", side=B)])).items[6]

    assert (item.finding_id, item.status) == ("F-PITTING-EDEMA", NOT_RECORDED)


def test_calf_tenderness_counts_provisionally() -> None:
    tender = f("F-DEEP-VEIN-TENDERNESS", tags={TAG_NOT_DEEP_VEIN}, code="247348008")

    item = wells(FindingSet([tender])).items[3]

    assert (item.status, item.provisional) == (PRESENT, True)


def test_the_dvt_counted_as_a_current_diagnosis_is_not_also_a_previous_dvt() -> None:
    current = f("F-DVT-DX", reference="Condition/dvt")
    same_as_history = f("F-PREVIOUS-DVT", reference="Condition/dvt")

    result = wells(FindingSet([current, same_as_history]))

    assert result.items[8].status == NOT_RECORDED


# ----------------------------------------------------------------------------- D-dimer (§5)
def d_dimer(value: float | None, **kwargs: Any) -> Finding:
    basis = kwargs.pop("basis", "FEU")
    cut = 250 if basis == "DDU" else 500
    present = kwargs.pop("present", value is not None and value >= cut)
    return f(
        "F-D-DIMER",
        value=value,
        unit="ng/mL",
        analyte="d-dimer",
        basis=basis,
        present=present,
        days_ago=kwargs.pop("days_ago", 0.1),
        tags={TAG_MEASURED},
        **kwargs,
    )


SYMPTOMS = NOW - timedelta(hours=5)


@pytest.mark.parametrize(
    ("record", "age", "state", "reason"),
    [
        pytest.param(d_dimer(300), 40, NEGATIVE, "", id="below-500-negative"),
        pytest.param(d_dimer(620), 40, POSITIVE, "positive", id="at-or-over-500-positive"),
        pytest.param(d_dimer(650), 80, NEGATIVE, "", id="age-adjusted-800-negative"),
        pytest.param(d_dimer(650), None, POSITIVE, "positive", id="age-unknown-500"),
        pytest.param(d_dimer(240, basis="DDU"), 80, NEGATIVE, "", id="ddu-below-250"),
        pytest.param(d_dimer(260, basis="DDU"), 80, POSITIVE, "positive", id="ddu-never-adjusted"),
        pytest.param(d_dimer(300, days_ago=None), 40, UNUSABLE, "undated", id="undated"),
        pytest.param(
            d_dimer(300, days_ago=-1), 40, UNUSABLE, "dated in the future", id="future-dated"
        ),
        pytest.param(d_dimer(300, days_ago=-0.0005), 40, NEGATIVE, "", id="seconds-ahead"),
        pytest.param(
            d_dimer(300, status="preliminary"), 40, UNUSABLE, "preliminary", id="preliminary"
        ),
        pytest.param(
            d_dimer(300, days_ago=2), 40, UNUSABLE, "taken before the leg symptoms", id="too-early"
        ),
        pytest.param(
            d_dimer(450, flag=FLAG_HIGH, present=True),
            80,
            POSITIVE,
            "flagged high by the lab",
            id="lab-flag-high-is-never-negative",
        ),
        pytest.param(
            d_dimer(None, flag=FLAG_POSITIVE, present=True),
            40,
            POSITIVE,
            "flagged positive by the lab",
            id="lab-positive",
        ),
        pytest.param(d_dimer(None, present=False), 40, NEGATIVE, "", id="coded-negative"),
        pytest.param(
            d_dimer(600, flag=FLAG_NORMAL, present=False),
            40,
            NEGATIVE,
            "flagged normal by the lab",
            id="lab-flag-normal-over-500-is-negative",
        ),
        pytest.param(
            d_dimer(600, flag=FLAG_NORMAL),
            40,
            POSITIVE,
            "at or over the cut-off, though flagged normal by the lab",
            id="lab-flag-normal-but-raised-without-a-range-is-judged-by-its-value",
        ),
        pytest.param(
            d_dimer(5000, flag=FLAG_NEGATIVE),
            40,
            POSITIVE,
            "at or over the cut-off, though flagged negative by the lab",
            id="lab-flag-negative-far-over-the-cut-off-never-excludes",
        ),
        pytest.param(
            d_dimer(650, flag=FLAG_NORMAL),
            80,
            NEGATIVE,
            "",
            id="lab-flag-normal-raised-under-the-age-adjusted-cut-off-as-unflagged",
        ),
        pytest.param(
            d_dimer(600, flag=FLAG_ABNORMAL, present=True),
            80,
            POSITIVE,
            "flagged abnormal by the lab",
            id="lab-flag-abnormal-keeps-the-plain-cut-off",
        ),
        pytest.param(
            d_dimer(None, flag=FLAG_NEGATIVE),
            40,
            NEGATIVE,
            "flagged negative by the lab",
            id="lab-flag-negative",
        ),
        pytest.param(
            d_dimer(300, flag=FLAG_NORMAL, present=False, status="preliminary"),
            40,
            UNUSABLE,
            "preliminary",
            id="lab-flag-normal-preliminary",
        ),
        pytest.param(
            d_dimer(300, flag=FLAG_NORMAL, days_ago=None),
            40,
            UNUSABLE,
            "undated",
            id="lab-flag-normal-undated",
        ),
        pytest.param(
            d_dimer(450, present=True), 40, POSITIVE, "above the lab's reference range", id="range"
        ),
        pytest.param(
            d_dimer(300, flag=FLAG_ABNORMAL, present=True),
            40,
            POSITIVE,
            "flagged abnormal by the lab",
            id="lab-flag-abnormal-is-never-negative",
        ),
        pytest.param(
            d_dimer(None, interpretable=False, present=False),
            40,
            UNUSABLE,
            "not interpretable",
            id="not-interpretable",
        ),
    ],
)
def test_each_d_dimer_is_judged_as_section_5_says(
    record: Finding, age: int | None, state: str, reason: str
) -> None:
    (result,) = d_dimers(
        FindingSet([record]), age_years=age, symptoms_from=SYMPTOMS, now=NOW
    ).results

    assert (result.state, result.reason) == (state, reason)


def test_the_age_adjusted_cut_off_applies_over_a_lab_flag_only_when_configured() -> None:
    flagged = d_dimer(650, flag=FLAG_HIGH, present=True)

    default = d_dimers(FindingSet([flagged]), age_years=80, symptoms_from=SYMPTOMS, now=NOW)
    over = d_dimers(
        FindingSet([flagged]), age_years=80, symptoms_from=SYMPTOMS, now=NOW, over_flag=True
    )

    assert default.results[0].state == POSITIVE
    assert (over.results[0].state, over.results[0].cutoff) == (NEGATIVE, 800.0)


def test_every_d_dimer_must_be_negative_and_at_least_one_recorded() -> None:
    assert not d_dimers(FindingSet([]), age_years=40, symptoms_from=SYMPTOMS, now=NOW).all_negative
    both = FindingSet([d_dimer(300), d_dimer(300, days_ago=None)])
    assert not d_dimers(both, age_years=40, symptoms_from=SYMPTOMS, now=NOW).all_negative
    assert d_dimers(
        FindingSet([d_dimer(300)]), age_years=40, symptoms_from=SYMPTOMS, now=NOW
    ).all_negative


def test_out_of_window_d_dimers_are_not_judged() -> None:
    old = d_dimer(300, in_window=False, days_ago=5)

    assert d_dimers(FindingSet([old]), age_years=40, symptoms_from=SYMPTOMS, now=NOW).results == ()


def test_undated_symptoms_count_from_now() -> None:
    assert first_dated((f("F-CALF-PAIN", days_ago=None),), NOW) == NOW
    assert first_dated((f("F-CALF-PAIN", days_ago=2), f("F-LEG-SWELLING")), NOW) == NOW - timedelta(
        days=2
    )
