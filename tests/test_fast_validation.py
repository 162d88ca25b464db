"""cds.fhir_input.fast_valid is conservative: whatever it accepts, the full R4B model accepts.

The fast path replaces the fhir.resources model for the record shapes it knows (issue 8); the
full model stays the source of truth. Checked over every Observation and Condition of the
samples, the Synthea bundles and the benchmark generator (Observations, Conditions and
Patients), and over systematic mutations of them (wrong types, empty and blank values, nulls,
bad dates and codes, extra keys, two choices of one value[x], missing required elements), and
over edge values of the canonical date/decimal shortcuts.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds.fhir_input import _normalise_dates, bundle_resources, fast_valid
from cds.prefetch import read_prefetch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import generate  # noqa: E402

SYNTHEA = REPO / "tests" / "data" / "synthea"
MUTANTS: list[object] = [
    None,
    "",
    " ",
    "two  spaces",
    "line\nbreak",
    0,
    -1,
    2**40,
    1.5,
    True,
    False,
    [],
    {},
    [None],
    {"unknown": "x"},
    "2026-02-30",
    "2026-11-24T10:00",
    "2026-11-24T24:00:00Z",
]


def _corpus() -> list[dict[str, Any]]:
    resources: list[object] = []
    for path in sorted((REPO / "fhir_samples").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("resourceType") == "Bundle":
            resources += bundle_resources(data)
        else:
            resources += read_prefetch(data.get("prefetch")).resources
    for path in sorted(SYNTHEA.glob("*.json")):
        resources += bundle_resources(json.loads(path.read_text(encoding="utf-8")))
    resources += generate.observations(60, relevant=30, seed=3)
    resources += generate.conditions(20, catalog=8, seed=3)
    resources += [generate.patient(random.Random(seed), f"p-{seed}") for seed in range(3)]
    return [
        _normalise_dates(dict(r))
        for r in resources
        if isinstance(r, dict) and r.get("resourceType") in {"Observation", "Condition", "Patient"}
    ]


CORPUS = _corpus()


def _model_accepts(resource: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def _paths(value: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index)
            yield from _paths(child, (*path, index))


def _set(resource: dict[str, Any], path: tuple[object, ...], new: object) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    node: Any = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = copy.deepcopy(new)
    return copied


def _delete(resource: dict[str, Any], path: tuple[object, ...]) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    node: Any = copied
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return copied


def _mutations(resource: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    paths = [p for p in _paths(resource) if p != ("resourceType",)]
    for path in paths:
        for new in rng.sample(MUTANTS, 6):
            yield _set(resource, path, new)
        yield _delete(resource, path)
    yield {**resource, "unknownElement": "x"}
    yield {**resource, "_status": {"extension": []}}
    yield {**resource, "valueString": "x", "valueBoolean": True}
    yield {**resource, "effectiveDateTime": "2026-11-24", "effectivePeriod": {"start": "2026"}}


def test_the_corpus_takes_the_fast_path() -> None:
    """Otherwise the mutation test below would prove nothing (and the speed-up would vanish)."""
    accepted = sum(fast_valid(r["resourceType"], r) for r in CORPUS)

    assert len(CORPUS) > 150
    assert accepted >= 0.9 * len(CORPUS)


@pytest.mark.parametrize("start", range(0, len(CORPUS), 40))
def test_fast_path_accepts_only_what_the_model_accepts(start: int) -> None:
    rng = random.Random(start)
    candidates = (
        candidate
        for resource in CORPUS[start : start + 40]
        for candidate in [resource, *_mutations(resource, rng)]
    )
    assert _fast_accepted_and_model_checked(candidates) > 0


def _fast_accepted_and_model_checked(candidates: Iterable[dict[str, Any]]) -> int:
    """How many candidates the fast path accepted; each of them must pass the full model."""
    accepted = 0
    for candidate in candidates:
        if fast_valid(candidate["resourceType"], candidate):
            accepted += 1
            assert _model_accepts(candidate), candidate
    return accepted


# Values around the canonical shortcuts in front of fhir_core's DateTime, Instant and Decimal
# (cds.fhir_input._CANON_PATTERNS, _CANON_DECIMAL): calendar edges, precision, time zones,
# leap seconds, trailing newlines, partial dates, non-finite and boolean numbers.
DATE_EDGES = [
    "2026-11-24",
    "2024-02-29",
    "2023-02-29",
    "2026-02-28",
    "2026-04-30",
    "2026-04-31",
    "2026-12-31",
    "2026-13-01",
    "2026-00-10",
    "2026-11-00",
    "0999-01-01",
    "1000-01-01",
    "9999-12-31T23:59:59Z",
    "2026",
    "2026-11",
    "2026-11-24T10:00:00Z",
    "2026-11-24T10:00:00.123456Z",
    "2026-11-24T10:00:00.1234567Z",
    "2026-11-24T10:00:00.Z",
    "2026-11-24T10:00:00+14:00",
    "2026-11-24T10:00:00+14:01",
    "2026-11-24T10:00:00-13:59",
    "2026-11-24T10:00:00+24:00",
    "2026-11-24T10:00:60Z",
    "2026-11-24T23:59:59z",
    "2026-11-24t10:00:00Z",
    "2026-11-24T10:00:00Z\n",
    "\n2026-11-24",
    "2026-11-24 10:00:00Z",
    "2026-11-24T10:00:00",
    "2026-11-24T10:00Z",
    "\uff12\uff10\uff12\uff16-11-24",  # full-width digits
]
NUMBER_EDGES: list[object] = [
    0,
    -0.0,
    7,
    -12,
    72.5,
    1e-7,
    1.5e300,
    2**63,
    10**40,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
    "7",
    "7.50",
    "1e3",
    " 7",
    "",
    None,
]


def _edge_candidates() -> Iterator[dict[str, Any]]:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    }
    for value in DATE_EDGES:
        yield {**observation, "effectiveDateTime": value}
        yield {**observation, "issued": value}
        yield {**observation, "effectivePeriod": {"start": value}}
        yield {"resourceType": "Condition", "subject": {"reference": "P/1"}, "onsetDateTime": value}
        yield {"resourceType": "Patient", "deceasedDateTime": value}
    for number in NUMBER_EDGES:
        yield {**observation, "valueQuantity": {"value": number, "unit": "/min"}}
        yield {**observation, "referenceRange": [{"low": {"value": number}}]}


def test_canonical_shortcuts_accept_only_what_the_model_accepts() -> None:
    assert _fast_accepted_and_model_checked(_edge_candidates()) > 50


# `_Reader._validate` tries the fast path on the resource as sent and, when it passes, skips
# `_normalise_dates`: that is only the same when whatever the fast path accepts has nothing for
# the repair to change (R4 date-times carry seconds and a zone; a naive or second-less one is
# refused and repaired as before).
REPAIRED_DATES = [
    "2026-11-24T10:00",
    "2026-11-24T10:00:00",
    "2026-11-24T10:00:00.5",
    "2026-11-24T10:00Z",
    "2026-11-24T10:00+01:00",
    "2026-11-24T10:00-05:00",
    "2026-11-24T10:00:00\n",
]
DATE_PATHS: dict[str, list[tuple[str, ...]]] = {
    "Observation": [
        ("effectiveDateTime",),
        ("effectiveInstant",),
        ("issued",),
        ("effectivePeriod", "start"),
        ("effectivePeriod", "end"),
    ],
    "Condition": [
        ("onsetDateTime",),
        ("recordedDate",),
        ("abatementDateTime",),
        ("onsetPeriod", "start"),
        ("abatementPeriod", "end"),
    ],
    "Patient": [("deceasedDateTime",)],
}


def _dated_candidates() -> Iterator[dict[str, Any]]:
    for resource in CORPUS:
        yield resource
        for path in DATE_PATHS[resource["resourceType"]]:
            for value in [*DATE_EDGES, *REPAIRED_DATES]:
                candidate = copy.deepcopy(resource)
                for key in ("effective", "onset", "abatement", "deceased"):
                    if path[0].startswith(key):  # one value of the choice group
                        for name in [k for k in candidate if k.startswith(key)]:
                            del candidate[name]
                if len(path) == 1:
                    candidate[path[0]] = value
                else:
                    candidate[path[0]] = {path[1]: value}
                yield candidate


def test_what_the_fast_path_accepts_needs_no_date_repair() -> None:
    accepted = repaired = 0
    for candidate in _dated_candidates():
        if fast_valid(candidate["resourceType"], candidate):
            accepted += 1
            assert _normalise_dates(candidate) is candidate, candidate
        elif _normalise_dates(candidate) is not candidate:
            repaired += 1
    assert accepted > 1_000
    assert repaired > 100  # the repairs are among the candidates, and all were refused
