"""Reading FHIR into findings (clinical-rules.md §2): statuses, presence, windows, sites, units.

Every test reads raw FHIR JSON through the one reading path (`cds.fhir.bundle.flatten` then
`cds.fhir.reading.read`), as the service does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fhir_builders import (
    ANKLE,
    CALF,
    FOOT,
    LOCAL,
    LOINC,
    LOWER_LEG,
    NOW,
    SNOMED,
    bundle,
    concept,
    condition,
    interpretation,
    measurement,
    observation,
    patient,
    quantity,
)

from cds.config import Settings
from cds.core.model import (
    TAG_ACTIVE_CONDITION,
    TAG_AT_ANY_SITE,
    TAG_HEART_RATE,
    TAG_MEASURED,
    TAG_NOT_DEEP_VEIN,
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_PAIN_OUT_OF_PROPORTION,
    TAG_SIDES_CONFLICT,
    TAG_SUPERFICIAL_CORD,
    TAG_SUPPORTING,
    Extraction,
    Finding,
    Side,
)
from cds.fhir import reading
from cds.fhir.bundle import BundleError, Flattened, NotAResource, flatten
from cds.fhir.resources import validate_resource

SETTINGS = Settings()
SYNTHEA = sorted((Path(__file__).resolve().parent / "data" / "synthea").glob("*.json"))
CALF_PAIN = "300954003"


def read(
    *resources: Any, settings: Settings = SETTINGS, patient_id: str | None = None
) -> Extraction:
    """The resources as the entries of one Bundle, read as the service reads a prefetch (for
    the hook's `patient_id`, when given)."""
    document = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    flattened = flatten(msgspec.Raw(msgspec.json.encode(document)), "Bundle")
    return reading.read(flattened, policy=settings.policy, now=NOW, patient_id=patient_id)


def only(extraction: Extraction, finding_id: str | None = None) -> Finding:
    found = [f for f in extraction.findings if finding_id is None or f.finding_id == finding_id]
    assert len(found) == 1, [(f.finding_id, f.name) for f in extraction.findings]
    return found[0]


def ids(extraction: Extraction) -> set[str]:
    return {f.finding_id for f in extraction.findings}


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    "status",
    [
        pytest.param("final", id="final"),
        pytest.param("amended", id="amended"),
        pytest.param("corrected", id="corrected"),
        pytest.param("preliminary", id="preliminary"),
    ],
)
def test_observation_with_a_counted_status_is_read(status: str) -> None:
    extraction = read(observation(CALF_PAIN, status=status))

    assert only(extraction).finding_id == "F-CALF-PAIN"


@pytest.mark.parametrize(
    "status",
    [
        pytest.param("entered-in-error", id="entered-in-error"),
        pytest.param("cancelled", id="cancelled"),
        pytest.param("registered", id="registered"),
        pytest.param("unknown", id="unknown"),
    ],
)
def test_observation_with_an_excluded_status_is_ignored(status: str) -> None:
    extraction = read(observation(CALF_PAIN, status=status))

    assert extraction.findings == ()
    assert extraction.ignored == 1
    assert len(extraction.unreadable) == 0


def test_observation_with_an_invalid_status_code_is_unreadable_not_silently_dropped() -> None:
    extraction = read(observation(CALF_PAIN, status="bogus"))

    assert extraction.findings == ()
    assert [(u.element, u.problem) for u in extraction.unreadable] == [
        ("status", "is not a known status")
    ]


OTHER_PATIENT = "names another patient: counted for a red flag, never against one"


@pytest.mark.parametrize(
    ("subject", "other"),
    [
        pytest.param("Patient/p2", True, id="relative"),
        pytest.param("https://ehr.example/fhir/Patient/p2/_history/3", True, id="absolute"),
        pytest.param("Patient/p1", False, id="the hook's patient"),
        pytest.param("https://ehr.example/fhir/Patient/p1", False, id="the hook's, absolute"),
        pytest.param("urn:uuid:5b1c6a3e-0d9e-4c55-9d8b-0f5d2f1e1a11", False, id="not comparable"),
        pytest.param(None, False, id="no subject"),
    ],
)
def test_a_record_of_another_patient_never_speaks_against_a_red_flag(
    subject: str | None, other: bool
) -> None:
    """A record naming another patient than the hook's: its absence would cancel this
    patient's red flag, so it is not counted; its presence still is (the context id may be the
    wrong one, and a red flag is never dropped), with a caveat naming it."""
    present = observation(CALF_PAIN, id="o1", site=CALF, side="left", subject=subject)
    absent = observation(
        CALF_PAIN, id="o2", site=CALF, side="left", subject=subject, valueBoolean=False
    )

    extraction = read(patient(id="p1"), present, absent, patient_id="p1")

    assert [(f.reference, f.present) for f in extraction.findings] == (
        [("Observation/o1", True)]
        if other
        else [("Observation/o1", True), ("Observation/o2", False)]
    )
    assert [(c.reference, c.element, c.problem) for c in extraction.caveats] == (
        [(f"Observation/{i}", "subject", OTHER_PATIENT) for i in ("o1", "o2")] if other else []
    )
    assert extraction.unreadable == ()


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        pytest.param(None, "is missing", id="no-code"),
        pytest.param({"text": "dyspnoea"}, "has no readable coding", id="text-only"),
        pytest.param(
            {"coding": [{"system": "http://snomed.info/sct"}]},
            "has no readable coding",
            id="coding-without-code",
        ),
    ],
)
@pytest.mark.parametrize("resource_type", ["Observation", "Condition"])
def test_a_resource_with_no_readable_coding_is_counted_unreadable(
    resource_type: str, code: dict[str, Any] | None, problem: str
) -> None:
    """§2 (2026.2): `code` with no readable coding makes the resource unreadable (counted and
    named on the info card: a red flag may be in it), never silently passed over."""
    resource: dict[str, Any] = {"resourceType": resource_type, "id": "x"}
    if resource_type == "Observation":
        resource["status"] = "final"
    if code is not None:
        resource["code"] = code

    extraction = read(resource, observation(CALF_PAIN, id="pain", site=CALF, side="left"))

    assert [f.reference for f in extraction.findings] == ["Observation/pain"]
    assert [(u.reference, u.element, u.problem) for u in extraction.unreadable] == [
        (f"{resource_type}/x", "code", problem)
    ]


@pytest.mark.parametrize(
    "verification",
    [
        pytest.param("entered-in-error", id="entered-in-error"),
        pytest.param("refuted", id="refuted"),
    ],
)
def test_condition_excluded_by_verification_status_is_ignored(verification: str) -> None:
    extraction = read(condition("449615005", verification=verification))

    assert extraction.findings == ()
    assert extraction.ignored == 1


@pytest.mark.parametrize(
    "verification",
    [
        pytest.param("provisional", id="provisional"),
        pytest.param("unconfirmed", id="unconfirmed"),
        pytest.param(None, id="absent"),
    ],
)
def test_condition_with_any_other_verification_status_counts(verification: str | None) -> None:
    finding = only(read(condition("449615005", verification=verification)))

    assert (finding.finding_id, finding.present) == ("F-LEG-SWELLING", True)


@pytest.mark.parametrize(
    "clinical",
    [
        pytest.param("active", id="active"),
        pytest.param("recurrence", id="recurrence"),
        pytest.param("relapse", id="relapse"),
        pytest.param(None, id="no-clinical-status"),
    ],
)
def test_active_condition_counts_as_an_acute_finding(clinical: str | None) -> None:
    finding = only(read(condition("449615005", clinical=clinical)))

    assert finding.finding_id == "F-LEG-SWELLING"
    assert TAG_ACTIVE_CONDITION in finding.tags


@pytest.mark.parametrize(
    "clinical",
    [
        pytest.param("resolved", id="resolved"),
        pytest.param("inactive", id="inactive"),
        pytest.param("remission", id="remission"),
    ],
)
def test_inactive_condition_never_counts_as_an_acute_finding(clinical: str) -> None:
    extraction = read(
        condition("449615005", clinical=clinical), condition("363346000", clinical=clinical)
    )

    assert extraction.findings == ()


@pytest.mark.parametrize(
    "clinical",
    [pytest.param("resolved", id="resolved"), pytest.param("inactive", id="inactive")],
)
def test_inactive_dvt_condition_counts_as_previous_dvt(clinical: str) -> None:
    finding = only(read(condition("128053003", clinical=clinical, onset="2026-11-20")))

    assert (finding.finding_id, finding.present, finding.in_window) == (
        "F-PREVIOUS-DVT",
        True,
        True,
    )
    assert finding.name == "Previous DVT or PE"  # named as what it counts for


@pytest.mark.parametrize(
    ("onset", "recorded", "expected"),
    [
        pytest.param("2026-11-20", None, "F-DVT-DX", id="recent-dvt-is-a-diagnosis"),
        pytest.param("2025-03-01", None, "F-PREVIOUS-DVT", id="old-active-dvt-is-history"),
        pytest.param("2025-03-01", "2026-11-25", "F-DVT-DX", id="recorded-today-counts-as-recent"),
        pytest.param(None, None, "F-DVT-DX", id="undated-counts-as-current"),
    ],
)
def test_active_dvt_or_pe_condition_is_a_diagnosis_within_14_days_else_history(
    onset: str | None, recorded: str | None, expected: str
) -> None:
    extraction = read(condition("59282003", onset=onset, recorded=recorded))

    assert only(extraction).finding_id == expected


def test_history_of_dvt_code_counts_whatever_its_date() -> None:
    finding = only(read(condition("161508001", onset="1999-01-01")))

    assert (finding.finding_id, finding.in_window) == ("F-PREVIOUS-DVT", True)


@pytest.mark.parametrize(
    ("code", "finding_id"),
    [
        pytest.param("840580004", "F-PAD-DX", id="pad"),
        pytest.param("20696009", "F-VARICOSE", id="chronic-venous-insufficiency"),
        pytest.param("40930008", "F-CRAMP-CAUSE", id="hypothyroidism"),
        pytest.param("77386006", "F-PREGNANT", id="pregnant"),
        pytest.param("363346000", "F-ACTIVE-CANCER", id="cancer"),
    ],
)
def test_chronic_active_condition_counts_whatever_its_date(code: str, finding_id: str) -> None:
    finding = only(read(condition(code, onset="2010-05-01")))

    assert (finding.finding_id, finding.in_window) == (finding_id, True)


@pytest.mark.parametrize(
    ("when", "in_window"),
    [
        pytest.param("2026-01-10T00:00:00Z", True, id="within-12-months"),
        pytest.param("2025-06-01T00:00:00Z", False, id="older-than-12-months"),
    ],
)
def test_chronic_disorder_as_observation_counts_for_12_months(when: str, in_window: bool) -> None:
    finding = only(read(observation("840580004", when=when)))

    assert finding.in_window is in_window


def test_acute_finding_from_an_old_active_condition_is_outside_its_window() -> None:
    finding = only(read(condition("449615005", onset="2026-10-01")))

    assert (finding.finding_id, finding.in_window) == ("F-LEG-SWELLING", False)


def test_extra_cancer_code_from_settings_counts_as_active_cancer() -> None:
    settings = Settings(extra_cancer_codes=("254637007",))

    finding = only(read(condition("254637007", onset="2020-01-01"), settings=settings))

    assert finding.finding_id == "F-ACTIVE-CANCER"


# --------------------------------------------------------------------------- presence


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"valueBoolean": False}, id="valueBoolean-false"),
        pytest.param({"valueCodeableConcept": concept("373067005")}, id="snomed-no"),
        pytest.param({"interpretation": interpretation("NEG")}, id="interpretation-neg"),
    ],
)
def test_explicit_absence_is_read_as_not_present(value: dict[str, Any]) -> None:
    finding = only(read(observation(CALF_PAIN, **value)))

    assert (finding.finding_id, finding.present) == ("F-CALF-PAIN", False)


def test_an_absence_dated_in_the_future_is_read_as_undated() -> None:
    """A date error never speaks against a red flag: undated, the absence fills no Wells item
    and cannot win over today's record of the sign (§2, as for an undated absence)."""
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    absent = only(read(observation(CALF_PAIN, when=tomorrow, valueBoolean=False)))
    present = only(read(observation(CALF_PAIN, when=tomorrow)))

    assert (absent.present, absent.when) == (False, None)
    assert present.when is not None  # a presence keeps its date: it counts as current anyway


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({}, id="no-value"),
        pytest.param({"valueBoolean": True}, id="valueBoolean-true"),
        pytest.param({"valueCodeableConcept": concept("373066001")}, id="snomed-yes"),
        pytest.param({"valueString": "since Tuesday"}, id="string"),
        pytest.param({"valueQuantity": quantity(6, "{score}")}, id="severity-quantity"),
        pytest.param({"valueCodeableConcept": concept("24484000")}, id="severity-severe"),
    ],
)
def test_any_other_value_is_read_as_present(value: dict[str, Any]) -> None:
    finding = only(read(observation(CALF_PAIN, **value)))

    assert finding.present is True


@pytest.mark.parametrize(
    ("code", "system"),
    [
        pytest.param("75325-1", LOINC, id="loinc-symptom"),
        pytest.param("418799008", SNOMED, id="snomed-finding-reported-by-subject"),
    ],
)
def test_generic_symptom_code_with_the_finding_as_value_is_a_record(code: str, system: str) -> None:
    resource = observation(code, system, valueCodeableConcept=concept(CALF_PAIN))

    finding = only(read(resource))

    assert (finding.finding_id, finding.present, finding.code.code) == (
        "F-CALF-PAIN",
        True,
        CALF_PAIN,
    )


def test_pregnancy_status_with_pregnant_as_value_is_a_record() -> None:
    resource = observation("82810-3", LOINC, valueCodeableConcept=concept("77386006"))

    assert only(read(resource)).finding_id == "F-PREGNANT"


def test_generic_code_negated_by_interpretation_is_an_absence() -> None:
    resource = observation(
        "75325-1",
        LOINC,
        valueCodeableConcept=concept(CALF_PAIN),
        interpretation=interpretation("NEG"),
    )

    assert only(read(resource)).present is False


def test_finding_coded_in_a_component_is_read() -> None:
    panel = observation(
        "85353-1",
        LOINC,
        component=[
            {"code": concept("8867-4", LOINC), "valueQuantity": quantity(124, "/min")},
            {"code": concept(CALF_PAIN), "valueBoolean": False},
        ],
    )

    extraction = read(panel)

    assert only(extraction, "F-PE-SYMPTOM").present is True
    assert only(extraction, "F-CALF-PAIN").present is False


def test_reading_leaves_the_flattened_items_as_they_were() -> None:
    # A malformed component is named while reading; the item read again must give the same.
    panel = observation(
        "85353-1",
        LOINC,
        issued="2026-11-25",
        component=[
            {"code": concept("8867-4", LOINC), "valueQuantity": {"value": "fast"}},
            {"code": concept(CALF_PAIN), "valueBoolean": True},
        ],
    )
    document = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": panel}]}
    flattened = flatten(msgspec.Raw(msgspec.json.encode(document)), "Bundle")
    before = {key: value.path for key, value in flattened.items[0].malformed.items()}

    first = reading.read(flattened, policy=SETTINGS.policy, now=NOW)
    second = reading.read(flattened, policy=SETTINGS.policy, now=NOW)

    assert {key: value.path for key, value in flattened.items[0].malformed.items()} == before
    assert "component" in before
    assert first == second
    assert only(first, "F-CALF-PAIN").present is True


def test_unrelated_observation_yields_nothing() -> None:
    extraction = read(observation("72514-3", LOINC, valueQuantity=quantity(3.3, "{score}")))

    assert extraction.findings == ()
    assert (len(extraction.unreadable), extraction.ignored) == (0, 0)


HL7_BE_EXAMPLE = Path(__file__).resolve().parent / "data" / "hl7-be" / "example-pain-in-calves.fsh"


def test_hl7_be_pain_in_calves_example_reads_as_present_calf_pain() -> None:
    # tests/data/hl7-be/example-pain-in-calves.fsh written out as JSON by hand (no SUSHI here);
    # the assignments that matter are checked against the vendored source below.
    fsh = HL7_BE_EXAMPLE.read_text(encoding="utf-8")
    for assignment in (
        "* code = $snomed#1264028004",
        "* valueCodeableConcept = $snomed#373066001",
        '* effectivePeriod.end = "2024-11-15T09:57:00+00:00"',
    ):
        assert assignment in fsh
    resource = {
        "resourceType": "Observation",
        "id": "PainInCalvesExample",
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": "1264028004"}]},
        "subject": {
            "identifier": {
                "system": "urn:tmp:patient-id",
                "value": "D358D4B4-6007-4C3E-A33B-056773F45DC9",
            }
        },
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "373066001"}]},
        "effectivePeriod": {
            "start": "2024-11-15T09:56:00+00:00",
            "end": "2024-11-15T09:57:00+00:00",
        },
        "performer": [
            {
                "identifier": {
                    "system": "urn:tmp:patient-id",
                    "value": "D358D4B4-6007-4C3E-A33B-056773F45DC9",
                }
            }
        ],
    }

    finding = only(read(resource))

    assert (finding.finding_id, finding.present) == ("F-CALF-PAIN", True)
    assert finding.when == datetime(2024, 11, 15, 9, 57, tzinfo=UTC)
    assert finding.in_window is False  # two years before the pinned clock
    assert finding.reference == "Observation/PainInCalvesExample"


def test_one_resource_may_yield_several_findings() -> None:
    extraction = read(observation("771545003"))

    assert ids(extraction) == {"F-COLD-LIMB", "F-PAINFUL-COLD-LIMB"}


def test_paresis_counts_for_wells_and_as_motor_loss() -> None:
    extraction = read(observation("102568007"))

    assert ids(extraction) == {"F-PARESIS-OR-CAST", "F-SENSORY-MOTOR-LOSS"}
    assert "motor" in only(extraction, "F-SENSORY-MOTOR-LOSS").tags


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("fields", "when", "in_window"),
    [
        pytest.param(
            {"effectiveDateTime": "2026-11-20T08:00:00Z"},
            datetime(2026, 11, 20, 8, tzinfo=UTC),
            True,
            id="inside-14-days",
        ),
        pytest.param(
            {"effectiveDateTime": "2026-11-01T08:00:00Z"},
            datetime(2026, 11, 1, 8, tzinfo=UTC),
            False,
            id="outside-14-days",
        ),
        pytest.param({}, None, True, id="undated-counts-as-current"),
        pytest.param(
            {"effectiveDateTime": "2026-11-11"},
            datetime(2026, 11, 11, 23, 59, 59, tzinfo=UTC),
            True,
            id="date-only-is-the-end-of-that-day-so-13.5-days-ago-is-inside",
        ),
        pytest.param(
            {"effectiveDateTime": "2026-11-10"},
            datetime(2026, 11, 10, 23, 59, 59, tzinfo=UTC),
            False,
            id="date-only-14.5-days-ago-is-outside",
        ),
        pytest.param(
            {"effectiveDateTime": "2026-11-20T08:00:00"},
            datetime(2026, 11, 20, 8, tzinfo=UTC),
            True,
            id="naive-time-is-utc",
        ),
        pytest.param(
            {"effectivePeriod": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-24T00:00:00Z"}},
            datetime(2026, 11, 24, tzinfo=UTC),
            True,
            id="period-end",
        ),
        pytest.param(
            {"effectivePeriod": {"start": "2026-11-23T00:00:00Z"}},
            datetime(2026, 11, 23, tzinfo=UTC),
            True,
            id="open-period-start",
        ),
        pytest.param(
            {"effectiveInstant": "2026-11-24T10:00:00Z"},
            datetime(2026, 11, 24, 10, tzinfo=UTC),
            True,
            id="instant",
        ),
        pytest.param(
            {"effectiveDateTime": "2026-10-01T00:00:00Z", "issued": "2026-11-24T09:00:00Z"},
            datetime(2026, 11, 24, 9, tzinfo=UTC),
            True,
            id="latest-of-effective-and-issued",
        ),
    ],
)
def test_window_is_measured_from_the_latest_date_the_resource_gives(
    fields: dict[str, Any], when: datetime | None, in_window: bool
) -> None:
    finding = only(read(observation(CALF_PAIN, when=None, **fields)))

    assert (finding.when, finding.in_window) == (when, in_window)


def test_of_equal_latest_dates_the_first_given_is_kept() -> None:
    """Equal instants in different zones: the first of effective[x], issued (as `max` keeps)."""
    finding = only(
        read(
            observation(
                CALF_PAIN,
                when=None,
                effectiveDateTime="2026-11-24T10:00:00+01:00",
                issued="2026-11-24T09:00:00Z",
            )
        )
    )

    assert finding.when is not None
    assert finding.when.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("when", "in_window"),
    [
        pytest.param("2026-11-23T13:00:00Z", True, id="71-hours"),
        pytest.param("2026-11-22T11:00:00Z", False, id="73-hours"),
    ],
)
def test_lab_values_count_for_72_hours(when: str, in_window: bool) -> None:
    finding = only(read(measurement("8310-5", 38.5, "Cel", when=when)))

    assert finding.in_window is in_window


def test_tsh_counts_for_90_days() -> None:
    finding = only(read(measurement("3016-3", 7.0, "mIU/L", when="2026-09-15T00:00:00Z")))

    assert (finding.finding_id, finding.present, finding.in_window) == ("F-CRAMP-CAUSE", True, True)


def test_bladder_bowel_flag_has_a_fixed_14_day_window() -> None:
    settings = Settings(window_symptom_days=60)

    finding = only(read(observation("267064002", when="2026-11-01T00:00:00Z"), settings=settings))

    assert finding.in_window is False


# --------------------------------------------------------------------------- laterality


def _laterality_extension(kind: str, code: str) -> dict[str, Any]:
    value: dict[str, Any] = {"system": SNOMED, "code": code}
    if kind == "valueCodeableConcept":
        value = {"coding": [value]}
    return {"url": "http://hl7.org/fhir/StructureDefinition/bodySite-laterality", kind: value}


@pytest.mark.parametrize(
    ("body_site", "side"),
    [
        pytest.param(
            {"coding": [{"system": SNOMED, "code": CALF}, {"system": SNOMED, "code": "7771000"}]},
            Side.LEFT,
            id="left-coding",
        ),
        pytest.param(
            {"coding": [{"system": SNOMED, "code": CALF}, {"system": SNOMED, "code": "24028007"}]},
            Side.RIGHT,
            id="right-coding",
        ),
        pytest.param(
            {"coding": [{"system": SNOMED, "code": CALF}, {"system": SNOMED, "code": "51440002"}]},
            Side.BILATERAL,
            id="right-and-left-coding",
        ),
        pytest.param(
            {
                "coding": [
                    {"system": SNOMED, "code": "7771000"},
                    {"system": SNOMED, "code": "24028007"},
                ]
            },
            Side.UNKNOWN,  # one concept is one site: the codings contradict each other
            id="left-plus-right-codings",
        ),
        pytest.param(
            {
                "coding": [{"system": SNOMED, "code": "7771000"}],
                "extension": [_laterality_extension("valueCoding", "24028007")],
            },
            Side.UNKNOWN,
            id="left-coding-right-extension",
        ),
        pytest.param(
            {
                "coding": [
                    {"system": SNOMED, "code": LOWER_LEG},
                    {"system": SNOMED, "code": "7771000"},
                    {"system": SNOMED, "code": "51440002"},
                ]
            },
            Side.UNKNOWN,
            id="left-plus-right-and-left",
        ),
        pytest.param(
            {
                "coding": [{"system": SNOMED, "code": CALF}],
                "extension": [_laterality_extension("valueCodeableConcept", "24028007")],
            },
            Side.RIGHT,
            id="extension-codeable-concept",
        ),
        pytest.param(
            {
                "coding": [{"system": SNOMED, "code": CALF}],
                "extension": [_laterality_extension("valueCoding", "7771000")],
            },
            Side.LEFT,
            id="extension-coding",
        ),
        pytest.param({"coding": [{"system": SNOMED, "code": CALF}]}, Side.UNKNOWN, id="none"),
    ],
)
def test_laterality_comes_from_body_site_codings_or_extensions(
    body_site: dict[str, Any], side: Side
) -> None:
    finding = only(read(observation("449615005", bodySite=body_site)))

    assert finding.side is side


def test_a_body_site_coded_both_left_and_right_is_side_unknown_and_named() -> None:
    body_site = {"coding": [{"system": SNOMED, "code": c} for c in ("7771000", "24028007")]}
    extraction = read(observation("449615005", bodySite=body_site))

    finding = only(extraction)
    assert finding.side is Side.UNKNOWN
    assert TAG_SIDES_CONFLICT in finding.tags  # it still counts where a rule asks for both legs
    assert [(c.element, c.problem) for c in extraction.caveats] == [
        ("bodySite", "codes conflicting sides: side unknown")
    ]


def test_a_contradictory_concept_first_keeps_the_sites_of_the_concepts_after_it() -> None:
    both = {"coding": [{"system": SNOMED, "code": c} for c in ("7771000", "24028007")]}
    site = {"coding": [{"system": SNOMED, "code": LOWER_LEG}]}

    first, last = (
        only(read(condition("284521000", bodySite=order))) for order in ([both, site], [site, both])
    )

    assert (first.side, first.finding_id) == (last.side, last.finding_id)
    assert first.side is Side.UNKNOWN
    assert TAG_SUPPORTING not in first.tags  # its lower-leg site was read: pitting oedema counts


def test_a_condition_sited_on_each_leg_is_bilateral() -> None:
    legs = [
        {"coding": [{"system": SNOMED, "code": LOWER_LEG}, {"system": SNOMED, "code": side}]}
        for side in ("7771000", "24028007")
    ]
    extraction = read(condition("449615005", bodySite=legs))

    assert only(extraction).side is Side.BILATERAL
    assert extraction.caveats == ()


@pytest.mark.parametrize(
    ("element", "problem"),
    [
        ("clinicalStatus", "is malformed: read as absent, the condition counted as active"),
        ("verificationStatus", "is malformed: read as absent, the condition counted"),
    ],
)
def test_a_malformed_condition_status_says_how_it_was_read(element: str, problem: str) -> None:
    extraction = read(condition("449615005", **{element: "confirmed"}))

    assert only(extraction).present
    assert [(c.element, c.problem) for c in extraction.caveats] == [(element, problem)]


def test_bilateral_finding_code_is_bilateral() -> None:
    finding = only(read(observation("762898005")))

    assert (finding.finding_id, finding.side) == ("F-LEG-SWELLING", Side.BILATERAL)


def test_condition_body_site_list_gives_the_side() -> None:
    finding = only(read(condition("449615005", site=LOWER_LEG, side="right")))

    assert finding.side is Side.RIGHT


def test_pitting_edema_keeps_its_side_for_the_engine() -> None:
    finding = only(read(observation("284521000", site=ANKLE, side="both")))

    assert (finding.finding_id, finding.side, TAG_SUPPORTING in finding.tags) == (
        "F-PITTING-EDEMA",
        Side.BILATERAL,
        False,
    )


def test_finding_is_named_by_its_clinician_term_and_keeps_its_side() -> None:
    finding = only(read(observation(CALF_PAIN, site=CALF, side="left")))

    assert (finding.name, finding.side) == ("Calf pain", Side.LEFT)


# --------------------------------------------------------------------------- body sites


@pytest.mark.parametrize(
    ("code", "site", "finding_id", "supporting"),
    [
        pytest.param("284521000", None, "F-PITTING-EDEMA", True, id="pitting-no-site-supporting"),
        pytest.param("284521000", ANKLE, "F-PITTING-EDEMA", False, id="pitting-ankle-is-leg"),
        pytest.param("284521000", FOOT, "F-PITTING-EDEMA", False, id="pitting-foot-is-leg"),
        pytest.param("88092000", ANKLE, "F-CALF-ATROPHY", True, id="atrophy-ankle-is-not-calf"),
        pytest.param("88092000", LOWER_LEG, "F-CALF-ATROPHY", False, id="atrophy-lower-leg"),
        pytest.param("16386004", None, "F-TROPHIC-SKIN", True, id="dry-skin-no-site"),
        pytest.param("16386004", FOOT, "F-TROPHIC-SKIN", False, id="dry-skin-foot"),
        pytest.param("414941008", None, "F-TROPHIC-SKIN", False, id="onychomycosis-is-leg"),
        pytest.param("54518005", None, "F-PULSELESS", True, id="absent-pulse-no-site"),
        pytest.param("771542000", FOOT, "F-COLD-LIMB", False, id="cold-foot"),
        pytest.param(
            "3253007", CALF, "F-SKIN-DISCOLOURATION", True, id="discolouration-always-supporting"
        ),
        pytest.param(
            "202708005", None, "F-LUMBAR-DISC-DISEASE", True, id="disc-disease-supporting"
        ),
        pytest.param("247348008", None, "F-DEEP-VEIN-TENDERNESS", True, id="tenderness-no-site"),
    ],
)
def test_site_requirements_decide_between_counting_and_supporting(
    code: str, site: str | None, finding_id: str, supporting: bool
) -> None:
    finding = only(read(observation(code, site=site)))

    assert finding.finding_id == finding_id
    assert (TAG_SUPPORTING in finding.tags) is supporting


def test_muscle_pain_on_the_calf_is_calf_pain() -> None:
    finding = only(read(observation("68962001", site=CALF)))

    assert finding.finding_id == "F-CALF-PAIN"
    assert not finding.tags & {TAG_SUPPORTING, TAG_AT_ANY_SITE}


def test_muscle_pain_without_calf_site_is_supporting_muscle_pain_at_any_site() -> None:
    finding = only(read(observation("68962001")))

    assert finding.finding_id == "F-CALF-PAIN"
    assert {TAG_SUPPORTING, TAG_AT_ANY_SITE} <= finding.tags


@pytest.mark.parametrize(
    ("site", "finding_id"),
    [
        pytest.param(LOWER_LEG, "F-CYANOSIS", id="leg-site-is-leg-cyanosis"),
        pytest.param(None, "F-PE-SYMPTOM", id="no-site-is-a-pe-sign"),
        pytest.param("48477009", "F-PE-SYMPTOM", id="lip-site-is-a-pe-sign"),
    ],
)
def test_cyanosis_is_leg_cyanosis_only_with_a_leg_site(site: str | None, finding_id: str) -> None:
    finding = only(read(observation("3415004", site=site)))

    assert (finding.finding_id, TAG_SUPPORTING in finding.tags) == (finding_id, False)


def test_tenderness_on_the_calf_counts_but_is_not_localised_to_the_deep_veins() -> None:
    finding = only(read(observation("247348008", site=CALF)))

    assert finding.finding_id == "F-DEEP-VEIN-TENDERNESS"
    assert TAG_NOT_DEEP_VEIN in finding.tags
    assert TAG_SUPPORTING not in finding.tags


@pytest.mark.parametrize(
    ("code", "finding_id", "tag"),
    [
        pytest.param(
            "pain-out-of-proportion",
            "F-COMPARTMENT",
            TAG_PAIN_OUT_OF_PROPORTION,
            id="pain-out-of-proportion",
        ),
        pytest.param("superficial-vein-cord", "F-SVT", TAG_SUPERFICIAL_CORD, id="superficial-cord"),
    ],
)
def test_local_codes_carry_the_tags_rules_need(code: str, finding_id: str, tag: str) -> None:
    finding = only(read(observation(code, LOCAL)))

    assert finding.finding_id == finding_id
    assert tag in finding.tags
    assert finding.code.system == LOCAL


# --------------------------------------------------------------------------- measurements


@pytest.mark.parametrize(
    ("value", "unit", "present", "celsius"),
    [
        pytest.param(38.0, "Cel", True, 38.0, id="38.0-Cel-is-fever"),
        pytest.param(37.9, "Cel", False, 37.9, id="37.9-Cel-is-not"),
        pytest.param(101.3, "[degF]", True, 38.5, id="101.3-degF"),
        pytest.param(100.4, "°F", True, 38.0, id="100.4-degree-F-is-fever"),
        pytest.param(99.0, "degF", False, 37.2222, id="99-degF-is-not"),
        pytest.param(38.4, "°C", True, 38.4, id="degree-C"),
    ],
)
def test_temperature_decides_fever_after_conversion(
    value: float, unit: str, present: bool, celsius: float
) -> None:
    finding = only(read(measurement("8331-1", value, unit)))

    assert (finding.finding_id, finding.present) == ("F-FEVER", present)
    assert finding.measurement is not None
    assert finding.measurement.unit == "Cel"
    assert finding.measurement.value == pytest.approx(celsius, abs=1e-3)
    assert TAG_MEASURED in finding.tags


def test_unit_is_read_from_the_human_unit_when_the_code_is_missing() -> None:
    resource = observation("8310-5", LOINC, valueQuantity=quantity(101.3, "°F", code=None))

    assert only(read(resource)).present is True


@pytest.mark.parametrize(
    ("loinc", "unit", "blocks"),
    [
        pytest.param("8310-5", "K", True, id="temperature-kelvin"),
        pytest.param("48065-7", "ng/dL", True, id="d-dimer"),
        pytest.param("2157-6", "ukat/L", True, id="ck"),
        pytest.param("2823-3", "mg/dL", True, id="potassium"),
        pytest.param("3016-3", "pmol/L", False, id="tsh"),
        pytest.param("59408-5", "{fraction}", False, id="spo2"),
    ],
)
def test_unconvertible_unit_is_not_interpretable_and_never_guessed(
    loinc: str, unit: str, blocks: bool
) -> None:
    extraction = read(measurement(loinc, 7.0, unit))

    assert extraction.findings
    for finding in extraction.findings:
        assert (finding.interpretable, finding.present) == (False, False)
        assert (TAG_NOT_INTERPRETABLE_BLOCKS in finding.tags) is blocks
        assert finding.measurement is not None
        assert (finding.measurement.value, finding.measurement.sent_value) == (None, 7.0)
        assert finding.measurement.sent_unit == unit


def test_measurement_without_value_or_interpretation_is_not_interpretable() -> None:
    finding = only(read(observation("48065-7", LOINC)))

    assert (finding.interpretable, TAG_NOT_INTERPRETABLE_BLOCKS in finding.tags) == (False, True)


def test_measurement_not_done_is_not_recorded() -> None:
    resource = observation(
        "48065-7",
        LOINC,
        dataAbsentReason=concept(
            "not-performed", "http://terminology.hl7.org/CodeSystem/data-absent-reason"
        ),
    )

    assert read(resource).findings == ()


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "present", "ng_ml"),
    [
        pytest.param("48065-7", 620, "ng/mL", True, 620, id="FEU-620-positive"),
        pytest.param("48065-7", 500, "ng/mL{FEU}", True, 500, id="FEU-500-is-the-cut-off"),
        pytest.param("48065-7", 450, "ng/mL", False, 450, id="FEU-450-negative"),
        pytest.param("48065-7", 0.62, "mg/L{FEU}", True, 620, id="FEU-mg/L-annotated"),
        pytest.param("48065-7", 0.45, "ug/mL", False, 450, id="FEU-ug/mL"),
        pytest.param("48066-5", 260, "ng/mL", True, 260, id="DDU-260-positive"),
        pytest.param("48058-2", 240, "ug/L{DDU}", False, 240, id="DDU-240-negative"),
    ],
)
def test_d_dimer_cut_off_depends_on_feu_or_ddu_from_the_loinc_code(
    loinc: str, value: float, unit: str, present: bool, ng_ml: float
) -> None:
    finding = only(read(measurement(loinc, value, unit)))

    assert (finding.finding_id, finding.present, finding.interpretable) == (
        "F-D-DIMER",
        present,
        True,
    )
    assert finding.measurement is not None
    assert finding.measurement.value == pytest.approx(ng_ml)
    assert finding.measurement.unit == "ng/mL"
    assert finding.measurement.basis == ("FEU" if loinc == "48065-7" else "DDU")


def test_d_dimer_keeps_the_value_and_unit_it_was_sent_with() -> None:
    finding = only(read(measurement("48065-7", 0.62, "mg/L{FEU}")))

    assert finding.measurement is not None
    assert (finding.name, finding.measurement.sent_value, finding.measurement.sent_unit) == (
        "D-dimer",
        0.62,
        "mg/L{FEU}",
    )


@pytest.mark.parametrize(
    ("loinc", "unit"),
    [
        pytest.param("48065-7", "ng/mL{DDU}", id="FEU-code-DDU-unit"),
        pytest.param("48066-5", "mg/L{FEU}", id="DDU-code-FEU-unit"),
    ],
)
def test_d_dimer_annotation_contradicting_the_code_is_not_interpretable(
    loinc: str, unit: str
) -> None:
    finding = only(read(measurement(loinc, 900, unit)))

    assert (finding.interpretable, finding.present) == (False, False)
    assert TAG_NOT_INTERPRETABLE_BLOCKS in finding.tags


@pytest.mark.parametrize(
    ("value", "present"),
    [
        pytest.param({"valueString": ">20000 ng/mL"}, True, id="string-with-unit"),
        pytest.param(
            {"valueString": ">20000"}, True, id="string-without-unit-positive-in-any-unit"
        ),
        pytest.param({"valueString": "0.6"}, None, id="unitless-ambiguous-not-interpretable"),
        pytest.param({"valueString": "0.2"}, False, id="unitless-negative-in-any-unit"),
        pytest.param({"valueString": "see report"}, None, id="text-not-interpretable"),
        pytest.param(
            {"valueQuantity": quantity(500, "ng/mL", comparator=">")}, True, id="comparator"
        ),
        pytest.param({"valueCodeableConcept": concept("10828004")}, True, id="coded-positive"),
        pytest.param({"interpretation": interpretation("POS")}, True, id="interpretation-pos-only"),
    ],
)
def test_d_dimer_special_values(value: dict[str, Any], present: bool | None) -> None:
    finding = only(read(observation("48065-7", LOINC, **value)))

    if present is None:
        assert finding.interpretable is False
    else:
        assert (finding.present, finding.interpretable) == (present, True)


def test_d_dimer_string_keeps_the_comparator_for_the_card() -> None:
    finding = only(read(observation("48065-7", LOINC, valueString=">20000 ng/mL")))

    assert finding.measurement is not None
    assert (finding.measurement.value, finding.measurement.comparator) == (20000, ">")


@pytest.mark.parametrize(
    ("value", "extra", "present"),
    [
        # NEG, like N, decides nothing beside a number (§2's list): 620 is over the cut-off.
        pytest.param(
            620, {"interpretation": interpretation("NEG")}, True, id="NEG-is-not-decisive"
        ),
        pytest.param(
            620,
            {
                "interpretation": interpretation("NEG"),
                "referenceRange": [{"high": quantity(700, "ng/mL")}],
            },
            False,
            id="NEG-within-its-own-range",
        ),
        pytest.param(620, {"interpretation": interpretation("N")}, True, id="N-is-not-decisive"),
        pytest.param(400, {"interpretation": interpretation("H")}, True, id="H-beats-cut-off"),
        pytest.param(
            620, {"referenceRange": [{"high": quantity(700, "ng/mL")}]}, False, id="own-range-700"
        ),
        pytest.param(
            400,
            {"referenceRange": [{"high": quantity(0.35, "mg/L")}]},
            True,
            id="own-range-converted",
        ),
        pytest.param(
            400,
            {
                "referenceRange": [{"high": quantity(700, "ng/mL")}],
                "interpretation": interpretation("H"),
            },
            True,
            id="H-with-range",
        ),
    ],
)
def test_observation_interpretation_and_reference_range_are_preferred_over_the_cut_off(
    value: float, extra: dict[str, Any], present: bool
) -> None:
    finding = only(read(measurement("48065-7", value, "ng/mL", **extra)))

    assert finding.present is present


@pytest.mark.parametrize(
    ("value", "unit", "reference_range", "multiple", "present"),
    [
        pytest.param(
            4200, "U/L", [{"high": quantity(170, "U/L")}], 24.706, True, id="range-uln-170"
        ),
        pytest.param(1000, "IU/L", None, 5.0, True, id="default-uln-200"),
        pytest.param(150, "[IU]/L", None, 0.75, False, id="normal"),
        pytest.param(
            9000, "U/L", [{"low": quantity(20, "U/L")}], 45.0, True, id="range-without-high"
        ),
    ],
)
def test_ck_is_measured_in_multiples_of_the_upper_limit_of_normal(
    value: float,
    unit: str,
    reference_range: list[dict[str, Any]] | None,
    multiple: float,
    present: bool,
) -> None:
    extra = {"referenceRange": reference_range} if reference_range else {}

    finding = only(read(measurement("2157-6", value, unit, **extra)))

    assert finding.finding_id == "F-CK"
    assert finding.measurement is not None
    assert finding.measurement.unit == "xULN"
    assert finding.measurement.value == pytest.approx(multiple, abs=1e-3)
    assert finding.present is present


def test_ck_uln_is_configurable() -> None:
    finding = only(read(measurement("2157-6", 1000, "U/L"), settings=Settings(ck_uln_u_per_l=100)))

    assert finding.measurement is not None
    assert finding.measurement.value == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "extra", "cramp_cause", "severe"),
    [
        pytest.param("2823-3", 3.2, "mmol/L", {}, True, False, id="K-3.2-low"),
        pytest.param("6298-4", 2.3, "meq/L", {}, True, True, id="K-2.3-severe"),
        pytest.param("2823-3", 4.1, "mEq/L", {}, False, False, id="K-normal"),
        pytest.param(
            "2823-3", 3.6, "mmol/L", {"interpretation": interpretation("LL")}, True, True, id="K-LL"
        ),
        pytest.param(
            "2823-3",
            6.9,
            "mmol/L",
            {"interpretation": interpretation("HH")},
            False,
            True,
            id="K-HH",
        ),
        pytest.param("2601-3", 0.6, "mmol/L", {}, True, False, id="Mg-mmol"),
        pytest.param("2601-3", 1.6, "mg/dL", {}, True, False, id="Mg-mmol-code-sent-in-mg/dL"),
        pytest.param("19123-9", 1.6, "mg/dL", {}, True, False, id="Mg-mg/dL"),
        pytest.param("19123-9", 1.9, "mg/dL", {}, False, False, id="Mg-mg/dL-normal"),
        pytest.param("17861-6", 8.2, "mg/dL", {}, True, False, id="Ca-mg/dL"),
        pytest.param("17861-6", 2.0, "mmol/L", {}, True, False, id="Ca-mmol/L"),
        pytest.param("17861-6", 2.3, "mmol/L", {}, False, False, id="Ca-mmol/L-normal"),
        pytest.param(
            "17861-6",
            9.0,
            "mg/dL",
            {"interpretation": interpretation("LL")},
            True,
            True,
            id="Ca-LL",
        ),
        pytest.param(
            "2823-3",
            3.4,
            "mmol/L",
            {"referenceRange": [{"low": quantity(3.3, "mmol/L")}]},
            False,
            False,
            id="K-own-range",
        ),
    ],
)
def test_electrolytes_give_cramp_cause_and_severe_disturbance(
    loinc: str, value: float, unit: str, extra: dict[str, Any], cramp_cause: bool, severe: bool
) -> None:
    extraction = read(measurement(loinc, value, unit, **extra))

    assert only(extraction, "F-CRAMP-CAUSE").present is cramp_cause
    assert only(extraction, "F-SEVERE-ELECTROLYTE").present is severe


@pytest.mark.parametrize(
    ("value", "unit", "extra", "present"),
    [
        pytest.param(6.0, "m[IU]/L", {}, True, id="above-default-4.5"),
        pytest.param(4.0, "uIU/mL", {}, False, id="normal"),
        pytest.param(
            5.0,
            "mIU/L",
            {"referenceRange": [{"high": quantity(5.5, "mIU/L")}]},
            False,
            id="own-range",
        ),
    ],
)
def test_tsh_above_its_reference_range_is_a_cramp_cause(
    value: float, unit: str, extra: dict[str, Any], present: bool
) -> None:
    finding = only(read(measurement("3016-3", value, unit, **extra)))

    assert (finding.finding_id, finding.present) == ("F-CRAMP-CAUSE", present)


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "present", "heart_rate"),
    [
        pytest.param("59408-5", 90, "%", True, False, id="spo2-90"),
        pytest.param("2708-6", 95, "%", False, False, id="spo2-95"),
        pytest.param("8867-4", 120, "/min", True, True, id="hr-120"),
        pytest.param("8867-4", 100, "{beats}/min", False, True, id="hr-100-is-not-over"),
    ],
)
def test_oxygen_saturation_and_heart_rate_give_pe_symptoms(
    loinc: str, value: float, unit: str, present: bool, heart_rate: bool
) -> None:
    finding = only(read(measurement(loinc, value, unit)))

    assert (finding.finding_id, finding.present) == ("F-PE-SYMPTOM", present)
    assert (TAG_HEART_RATE in finding.tags) is heart_rate


@pytest.mark.parametrize("comparator", [">", " >", "> "])
def test_heart_rate_over_comparator_crosses_a_strict_limit(comparator: str) -> None:
    """A comparator is a FHIR `code`: one typed with spaces around it still counts."""
    resource = observation(
        "8867-4", LOINC, valueQuantity=quantity(100, "/min", comparator=comparator)
    )

    assert only(read(resource)).present is True


def test_a_measured_absence_dated_in_the_future_is_read_as_undated() -> None:
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    difference = observation(
        "calf-circumference-difference", LOCAL, when=tomorrow, valueQuantity=quantity(1.0, "cm")
    )

    finding = only(read(difference))

    assert (finding.finding_id, finding.present, finding.when) == (
        "F-CALF-SWELLING-3CM",
        False,
        None,
    )


@pytest.mark.parametrize(
    ("value", "unit", "present"),
    [
        pytest.param(3.2, "cm", True, id="3.2-cm"),
        pytest.param(3, "cm", True, id="exactly-3-cm"),
        pytest.param(25, "mm", False, id="25-mm"),
        pytest.param(-3.5, "cm", True, id="negative-difference"),
        pytest.param(1.5, "[in_i]", True, id="inches"),
    ],
)
def test_calf_circumference_difference_of_3_cm_is_calf_swelling(
    value: float, unit: str, present: bool
) -> None:
    resource = observation(
        "calf-circumference-difference", LOCAL, valueQuantity=quantity(value, unit)
    )

    finding = only(read(resource))

    assert (finding.finding_id, finding.present) == ("F-CALF-SWELLING-3CM", present)


def test_abi_components_use_the_lowest_with_its_side() -> None:
    resource = observation(
        "77194-9",
        LOINC,
        component=[
            {"code": {"text": "Right ABI"}, "valueQuantity": quantity(0.95, "{ratio}")},
            {"code": {"text": "Left ABI"}, "valueQuantity": quantity(0.62, "{ratio}")},
            {"code": {"text": "Left ankle pressure"}, "valueQuantity": quantity(80, "mm[Hg]")},
        ],
    )

    finding = only(read(resource))

    assert (finding.finding_id, finding.present, finding.side) == ("F-ABI", True, Side.LEFT)
    assert finding.measurement is not None
    assert finding.measurement.value == pytest.approx(0.62)


def test_abi_component_side_is_read_from_its_coding_display_when_codes_do_not_tell() -> None:
    local = "https://vascular-lab.example.org/abi"
    resource = observation(
        "77194-9",
        LOINC,
        component=[
            {
                "code": {"coding": [{"system": local, "code": "r", "display": "Right ABI"}]},
                "valueQuantity": quantity(0.55, "{ratio}"),
            },
            {
                "code": {"coding": [{"system": local, "code": "l", "display": "Left ABI"}]},
                "valueQuantity": quantity(0.97, "{ratio}"),
            },
        ],
    )

    finding = only(read(resource))

    assert (finding.finding_id, finding.present, finding.side) == ("F-ABI", True, Side.RIGHT)
    assert finding.measurement is not None
    assert finding.measurement.value == pytest.approx(0.55)


@pytest.mark.parametrize(
    ("code", "system", "unit"),
    [
        pytest.param("77194-9", LOINC, "{ratio}", id="loinc-ratio"),
        pytest.param("446841001", SNOMED, "1", id="snomed-1"),
        pytest.param("446841001", SNOMED, None, id="no-unit"),
    ],
)
def test_abi_value_is_reported_with_its_ratio(code: str, system: str, unit: str | None) -> None:
    resource = observation(
        code, system, valueQuantity=quantity(0.85, unit), site=ANKLE, side="right"
    )

    finding = only(read(resource))

    assert (finding.finding_id, finding.present, finding.side) == ("F-ABI", True, Side.RIGHT)
    assert finding.measurement is not None
    assert finding.measurement.value == pytest.approx(0.85)


def test_abi_in_an_unknown_unit_is_not_interpretable_but_does_not_block_self_care() -> None:
    finding = only(read(measurement("77194-9", 120, "mm[Hg]")))

    assert (finding.interpretable, finding.present) == (False, False)
    assert TAG_NOT_INTERPRETABLE_BLOCKS not in finding.tags


def test_any_crossing_stays_a_separate_record_for_the_engine() -> None:
    extraction = read(
        measurement("8310-5", 38.6, "Cel", when="2026-11-24T08:00:00Z"),
        measurement("8310-5", 36.9, "Cel", when="2026-11-25T08:00:00Z"),
    )

    assert sorted(f.present for f in extraction.findings) == [False, True]


# --------------------------------------------------------------------------- robustness


def test_malformed_neighbours_never_hide_a_red_flag() -> None:
    """§2 (2026.2): only a malformed code, status or measured value makes a resource
    unreadable; a malformed date makes it undated, and it still counts."""
    red_flag = observation(CALF_PAIN, id="good", site=CALF, side="left")
    resources: list[Any] = [
        "not a resource",
        observation(CALF_PAIN, id="bad-date", when="yesterday"),
        {"resourceType": "Observation", "code": concept(CALF_PAIN)},  # no status
        red_flag,
        42,
        {"no": "resourceType"},
        {"resourceType": "Observaton", "status": "final"},
        {"resourceType": "Observation", "status": "final", "code": "not a CodeableConcept"},
        condition("449615005", id="swelling", onsetDateTime="last week"),
    ]

    extraction = read(*resources)

    assert [(f.reference, f.when) for f in extraction.findings] == [
        ("Observation/bad-date", None),
        ("Observation/good", datetime(2026, 11, 24, 12, tzinfo=UTC)),
        ("Condition/swelling", None),
    ]
    assert [(u.element, u.problem) for u in extraction.unreadable] == [
        ("", "is not a Bundle entry"),
        ("", "is not a Bundle entry"),
        ("status", "is missing"),
        ("resourceType", "is missing"),
        ("resourceType", "is not a FHIR resource type"),
        ("code", "is not an object"),
    ]
    assert ("Observation/bad-date", "effectiveDateTime") in {
        (c.reference, c.element) for c in extraction.caveats
    }
    # Element paths only: never the value that was sent.
    assert not any(
        "yesterday" in u.problem or CALF_PAIN in u.problem for u in extraction.unreadable
    )


def test_other_resource_types_are_ignored_and_counted() -> None:
    extraction = read({"resourceType": "Encounter", "status": "finished"}, observation(CALF_PAIN))

    assert extraction.ignored == 1
    assert ids(extraction) == {"F-CALF-PAIN"}


def test_patient_gives_reference_birth_date_and_age() -> None:
    extraction = read(patient("p1", "1970-11-26"), patient("p2", "2000-01-01"))

    assert extraction.patient.reference == "Patient/p1"
    assert extraction.patient.birth_date == date(1970, 11, 26)
    assert extraction.patient.age_years == 55


def test_patient_with_partial_birth_date_gets_the_youngest_possible_age() -> None:
    extraction = read(patient("p1", "2008"))

    assert extraction.patient.age_years == 17


def test_missing_patient_leaves_age_unknown() -> None:
    assert read(observation(CALF_PAIN)).patient.age_years is None


def test_finding_carries_subject_and_resource_type() -> None:
    finding = only(read(condition("449615005", id="c1", subject="Patient/p9")))

    assert (finding.reference, finding.subject, finding.resource_type) == (
        "Condition/c1",
        "Patient/p9",
        "Condition",
    )


def flat(document: Any, where: str = "Bundle") -> Flattened:
    return flatten(msgspec.Raw(msgspec.json.encode(document)), where)


def test_resource_without_id_is_referenced_by_full_url_else_its_entry() -> None:
    source = bundle([observation(CALF_PAIN, id=None)])
    source["entry"].append({"resource": observation("449615005", id=None)})

    extraction = reading.read(flat(source, "observations"), policy=SETTINGS.policy, now=NOW)

    assert [f.reference for f in extraction.findings] == [
        "urn:uuid:00000000-0000-0000-0000-000000000000",
        "observations entry 1",
    ]


@pytest.mark.parametrize(
    "bad_id",
    ["obs\n\nStop\n=====", "has space", "x" * 65, "", "a/b"],
)
def test_a_resource_whose_id_is_no_fhir_id_is_cited_by_its_entry(bad_id: str) -> None:
    # R4 ids are [A-Za-z0-9-.]{1,64}: other text never reaches a card as "Observation/<id>".
    source = bundle([])
    source["entry"].append({"resource": observation(CALF_PAIN, id=bad_id)})

    extraction = reading.read(flat(source, "observations"), policy=SETTINGS.policy, now=NOW)

    assert [f.reference for f in extraction.findings] == ["observations entry 0"]
    assert [f.finding_id for f in extraction.findings] == ["F-CALF-PAIN"]


def test_flattening_keeps_entries_in_order_and_names_those_without_a_resource() -> None:
    source = bundle([patient(), observation(CALF_PAIN, id="o1")], type="searchset")
    source["entry"].append({"search": {"mode": "outcome"}})

    flattened = flat(source, "observations")

    assert [item.resource.resourceType for item in flattened.items] == ["Patient", "Observation"]
    assert flattened.skipped == ["observations entry 2"]


def test_a_bundle_whose_entry_is_not_a_list_is_refused() -> None:
    """The error says what is wrong; its caller names the field ("entry: ...", issue 19.7)."""
    with pytest.raises(BundleError, match=r"^must be a list of Bundle entries$"):
        flat({"resourceType": "Bundle", "entry": "nope"})


def test_a_value_that_is_not_a_resource_is_refused() -> None:
    with pytest.raises(NotAResource):
        flat(["not", "a", "resource"])


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name.split("_")[0]) for p in SYNTHEA])
def test_synthea_bundles_are_read_without_unreadable_resources(path: Path) -> None:
    flattened = flatten(msgspec.Raw(path.read_bytes()), "Bundle")

    extraction = reading.read(flattened, policy=SETTINGS.policy, now=NOW)

    assert flattened.items
    assert extraction.unreadable == ()
    assert extraction.patient.age_years is not None
    assert all(f.interpretable for f in extraction.findings)


def test_synthea_tsh_in_milli_international_units_is_read() -> None:
    path = next(p for p in SYNTHEA if p.name.startswith("David"))

    extraction = reading.read(
        flatten(msgspec.Raw(path.read_bytes()), "Bundle"), policy=SETTINGS.policy, now=NOW
    )

    tsh = [f for f in extraction.findings if f.code.code == "3016-3"]
    assert tsh
    assert all(f.measurement is not None and f.measurement.unit == "mIU/L" for f in tsh)


# --------------------------------------------------------------------------- validate_resource


def test_validate_resource_accepts_a_valid_service_request() -> None:
    validate_resource(
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "priority": "urgent",
            "code": concept("431883007"),
            "subject": {"reference": "Patient/p1"},
        }
    )


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        pytest.param(
            {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal"},
            "subject",
            id="missing-subject",
        ),
        pytest.param({"resourceType": "Nope"}, "not a FHIR resource type", id="unknown-type"),
        pytest.param({"status": "draft"}, "resourceType: missing", id="no-type"),
        pytest.param(
            {
                "resourceType": "CodeSystem",
                "status": "active",
                "content": "complete",
                "concept": "x",
            },
            "concept",
            id="codesystem-bad-concept",
        ),
    ],
)
def test_validate_resource_raises_a_readable_value_error(
    resource: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_resource(resource)


@pytest.mark.parametrize(
    ("code", "system", "finding_id"),
    [
        pytest.param("300954003", "urn:oid:2.16.840.1.113883.6.96", "F-CALF-PAIN", id="snomed-oid"),
        pytest.param("300954003", "http://snomed.info/sct/", "F-CALF-PAIN", id="snomed-slash"),
        pytest.param("8310-5", "urn:oid:2.16.840.1.113883.6.1", "F-FEVER", id="loinc-oid"),
    ],
)
def test_standard_systems_sent_as_oids_or_variants_still_match(
    code: str, system: str, finding_id: str
) -> None:
    resource = observation(code, system)
    if finding_id == "F-FEVER":
        resource["valueQuantity"] = quantity(39.2, "Cel")
    extraction = read(resource)
    assert [(f.finding_id, f.present) for f in extraction.findings] == [(finding_id, True)]
