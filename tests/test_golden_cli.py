"""`calf-cds evaluate` on golden samples, and the public Synthea and bulk-FHIR data end to end.

The CLI evaluates at SAMPLE_CLOCK (`--now`) so that its answers match the golden table of
`test_golden.py`; the external data only has to be read without error (200 / exit 0, a card list).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_CLOCK, SAMPLES, SYNTHEA, TEST_DATA, load_json
from test_golden import GOLDEN, RULES, TIERS, rule_id

from cds.cli import main

BULK_CONDITIONS = TEST_DATA / "bulk-fhir" / "Condition.two-patients.ndjson"
CLI_SAMPLES = [
    "dvt-unilateral-swelling-wells-likely.json",
    "pe-suspected-dvt-with-dyspnoea.json",
    "rest-post-exercise-calf-soreness.json",
    "encounter-start-calf-pain-deep-vein-tenderness.json",
    "no-symptoms-routine-review.json",
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads CDS_* variables: the golden answers assume the defaults."""
    import os

    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name)


def evaluate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["evaluate", *args, "--now", SAMPLE_CLOCK])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("name", CLI_SAMPLES)
def test_evaluate_json_prints_the_golden_cards(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out = evaluate(capsys, str(SAMPLES / name), "--json")

    assert code == 0
    cards = json.loads(out)["cards"]
    assert [rule_id(card) for card in cards if rule_id(card)] == list(GOLDEN[name].rules)


@pytest.mark.parametrize("name", CLI_SAMPLES)
def test_evaluate_prints_readable_cards(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out = evaluate(capsys, str(SAMPLES / name))

    assert code == 0
    expected = GOLDEN[name].rules
    if not expected:
        assert "No cards" in out
    for rule in expected:
        assert rule in out
        indicator = TIERS[RULES[rule][0]][0]
        assert f"[{indicator.upper()}]" in out
    # the rule ids appear in card order
    positions = [out.index(rule) for rule in expected]
    assert positions == sorted(positions)


def test_evaluate_wells_likely_sample_states_the_score(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = evaluate(capsys, str(SAMPLES / "dvt-unilateral-swelling-wells-likely.json"))

    assert code == 0
    assert "Wells" in out
    assert "431883007" in out  # Referral to DVT clinic (default profile)


def test_evaluate_a_plain_prefetch_bundle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A searchset Bundle (not a hook request) is evaluated like the service's prefetch."""
    request = load_json(SAMPLES / "pad-intermittent-claudication.json")
    bundle = request["prefetch"]["observations"]
    bundle["entry"].insert(0, {"resource": request["prefetch"]["patient"]})
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")

    code, out = evaluate(capsys, str(path), "--json")

    assert code == 0
    assert [rule_id(c) for c in json.loads(out)["cards"] if rule_id(c)] == ["R-PAD"]


def synthea_bundles() -> list[Any]:
    return [
        pytest.param(path, id=path.name.split("_")[0]) for path in sorted(SYNTHEA.glob("*.json"))
    ]


@pytest.mark.parametrize("path", synthea_bundles())
def test_synthea_bundle_is_evaluated_over_http(live_server: Any, path: Path) -> None:
    with live_server.client() as http:
        response = http.post(
            "/evaluate",
            params={"service": "calf-pain-triage"},
            content=path.read_bytes(),
            headers={"Content-Type": "application/json"},
        )

    assert response.status_code == 200, response.text[:500]
    cards = response.json()["cards"]
    assert isinstance(cards, list)
    for card in cards:
        assert card["indicator"] in {"info", "warning", "critical"}
        assert len(card["summary"]) < 140


def test_bulk_ndjson_conditions_are_evaluated(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = evaluate(capsys, str(BULK_CONDITIONS), "--json")

    assert code == 0
    assert isinstance(json.loads(out)["cards"], list)
