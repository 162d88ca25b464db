"""`calf-cds evaluate` on golden samples, `calf-cds rules`, and public Synthea and bulk-FHIR data.

The CLI evaluates at SAMPLE_CLOCK (`--now`) so that its answers match the golden table of
`test_golden.py`; the public data (vendored under tests/data/, see its README) only has to be
read without error (200 / exit 0, a card list).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SAMPLE_CLOCK, SAMPLES, SYNTHEA, TEST_DATA, load_json
from test_golden import GOLDEN

from cds.cli import main
from cds.core.describe import markdown
from cds.core.rules import RULES

BULK_CONDITIONS = TEST_DATA / "bulk-fhir" / "Condition.two-patients.ndjson"
CLI_SAMPLES = [
    "dvt-unilateral-swelling-wells-likely",
    "pe-suspected-dvt-with-dyspnoea",
    "rest-post-exercise-calf-soreness",
    "encounter-start-calf-pain-deep-vein-tenderness",
    "spinal-mscc-cancer-leg-weakness",
    "no-symptoms-routine-review",
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads CDS_* variables: the golden answers assume the defaults."""
    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def evaluate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, out, _ = run(capsys, "evaluate", *args, "--now", SAMPLE_CLOCK)
    return code, out


def golden_plan(name: str) -> list[str]:
    """The golden "rule variant [covered|merged]" list of a sample ("data-quality" kept)."""
    cards = GOLDEN[name].cards
    return [] if cards == "none" else [" ".join(part.split()) for part in cards.split(";")]


def plan(cards: list[dict[str, Any]]) -> list[str]:
    out = []
    for card in cards:
        ext = card["extension"]["example.calf-cds"]
        if "ruleId" not in ext:
            out.append("data-quality")
            continue
        status = " covered" if "coveredBy" in ext else " merged" if "mergedInto" in ext else ""
        out.append(f"{ext['ruleId']} {ext['variant']}{status}")
    return out


def sample(name: str) -> str:
    return str(SAMPLES / f"{name}.json")


@pytest.mark.parametrize("name", CLI_SAMPLES)
def test_evaluate_json_prints_the_golden_cards(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out = evaluate(capsys, sample(name), "--json")

    assert code == 0
    assert plan(json.loads(out)["cards"]) == golden_plan(name)


@pytest.mark.parametrize("name", CLI_SAMPLES)
def test_a_sample_without_now_is_evaluated_at_its_own_reference_time(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, _ = run(capsys, "evaluate", sample(name), "--json")

    assert code == 0
    assert plan(json.loads(out)["cards"]) == golden_plan(name)


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that no summary wraps (rich reads COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.mark.usefixtures("wide")
@pytest.mark.parametrize("name", CLI_SAMPLES)
def test_evaluate_prints_readable_cards_in_the_answers_order(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    _, as_json = evaluate(capsys, sample(name), "--json")
    cards = json.loads(as_json)["cards"]

    code, out = evaluate(capsys, sample(name))

    assert code == 0
    lines = out.splitlines()
    count = f"{len(cards)} card" + ("" if len(cards) == 1 else "s")
    assert lines[0] == f"{count}, evaluated as of 2026-11-25T12:00+00:00"
    positions = []
    for number, card in enumerate(cards, start=1):
        header = f"{number}.  {card['indicator'].upper()}  {card['summary']}"
        (index,) = [i for i, line in enumerate(lines) if line == header]
        ext = card["extension"]["example.calf-cds"]
        assert ext.get("ruleId", "data quality") in lines[index + 1]
        positions.append(index)
    assert positions == sorted(positions)
    assert "**" not in out  # the markdown is drawn, not printed raw


def test_piped_output_fits_80_columns_without_colour_or_trailing_blanks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)

    code, out = evaluate(capsys, sample("pe-suspected-dvt-with-dyspnoea"))

    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out
    assert [line for line in out.splitlines() if line != line.rstrip()] == []


@pytest.mark.usefixtures("wide")
def test_evaluate_wells_likely_sample_states_the_score_and_the_referral(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = evaluate(capsys, sample("dvt-unilateral-swelling-wells-likely"))

    assert code == 0
    assert "DVT likely (Wells 2)" in out
    suggests = [line for line in out.splitlines() if line.startswith("Suggests")]
    assert suggests == [
        "Suggests     Draft referral: phlebologist or hospital DVT clinic today, ultrasound "
        "within 4 h (priority urgent)"
    ]
    assert "• Proximal leg-vein ultrasound within 4 h." in out


@pytest.mark.usefixtures("wide")
def test_evaluate_an_emergency_card_shows_its_stat_referral(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = evaluate(capsys, sample("spinal-mscc-cancer-leg-weakness"))

    assert code == 0
    assert out.splitlines()[2].startswith("1.  CRITICAL  ")
    assert any(
        line.startswith("Suggests") and line.endswith("(priority stat)")
        for line in out.splitlines()
    )


def test_now_that_is_not_a_date_time_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", sample("dvt-unilateral-swelling-wells-likely"), "--now", "yesterday"])

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --now: must be an ISO 8601 date-time with an offset; got 'yesterday'" in err
    assert "--now: --now" not in err
    assert "CDS_EVALUATION_TIME" not in err


def test_a_service_for_another_hook_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        "evaluate",
        sample("dvt-unilateral-swelling-wells-likely"),
        "--service",
        "calf-pain-triage-encounter",
    )

    assert code == 2
    assert out == ""
    assert err.startswith(
        "calf-cds evaluate: --service calf-pain-triage-encounter answers encounter-start; "
        "the request is patient-view"
    )


def test_an_unknown_service_is_a_usage_error_listing_the_services(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", sample("dvt-unilateral-swelling-wells-likely"), "--service", "x"])

    assert exit_.value.code == 2
    assert "argument --service: invalid choice: 'x'" in capsys.readouterr().err


def test_version_names_the_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == "calf-cds 2026.2.0"


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
    assert plan(json.loads(out)["cards"]) == golden_plan("pad-intermittent-claudication")


def test_evaluate_ndjson_resources_as_one_bundle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = load_json(SAMPLES / "dvt-unilateral-swelling-wells-likely.json")
    resources = [request["prefetch"]["patient"]] + [
        entry["resource"] for entry in request["prefetch"]["observations"]["entry"]
    ]
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in resources) + "\n", encoding="utf-8")

    code, out = evaluate(capsys, str(path), "--json")

    assert code == 0
    assert plan(json.loads(out)["cards"]) == golden_plan("dvt-unilateral-swelling-wells-likely")


def test_an_ndjson_line_that_is_not_json_costs_only_itself(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = load_json(SAMPLES / "dvt-unilateral-swelling-wells-likely.json")
    lines = [json.dumps(request["prefetch"]["patient"]), '{"resourceType": "Observation",']
    lines += [
        json.dumps(entry["resource"]) for entry in request["prefetch"]["observations"]["entry"]
    ]
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = run(capsys, "evaluate", str(path), "--json", "--now", SAMPLE_CLOCK)

    assert code == 0
    assert err.startswith(f"calf-cds: {path} line 2: not JSON (")
    cards = json.loads(out)["cards"]
    assert plan(cards) == [*golden_plan("dvt-unilateral-swelling-wells-likely"), "data-quality"]
    assert "- line 2: " in cards[-1]["detail"]


def test_a_sample_name_without_its_folder_gets_a_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, _, err = run(capsys, "evaluate", "calf-pain-fever.json")

    assert code == 1
    assert err == (
        "calf-cds: cannot read calf-pain-fever.json: no such file "
        "(a sample of that name is in fhir_samples/)\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "input.json: no such file\n", id="missing-file"),
        pytest.param(b'{"resourceType": "Patient"}', "expected a CDS Hooks request", id="patient"),
        pytest.param(
            b'{"hook": ', "input.json: malformed JSON: the body ends", id="truncated-json"
        ),
        pytest.param(
            b'{"resourceType": "Bundle", "type": "collection", "entry": "nope"}',
            "input.json: entry: must be a list of Bundle entries\n",
            id="entry-not-a-list",
        ),
    ],
)
def test_evaluate_refuses_bad_input_with_exit_1_and_a_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_bytes(content)

    code, out, err = run(capsys, "evaluate", str(path))

    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("wide")
def test_rules_lists_every_rule_with_its_name_tier_and_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "rules")

    assert code == 0
    assert out.rstrip().endswith(f"{len(RULES)} rules, rule set 2026.2")
    assert len(RULES) == 30
    words = {"E": "emergency", "U": "urgent", "R": "routine", "S": "self-care"}
    blocks: dict[str, list[str]] = {}  # a rule's row and the lines it wraps onto
    for line in out.splitlines():
        if line.strip().startswith("R-"):
            blocks[line.split()[0]] = [line]
        elif blocks and not line.strip():
            break
        elif blocks:
            blocks[list(blocks)[-1]].append(line)
    for rule in RULES:
        text = " ".join(blocks[rule.id])
        assert all(f" {word}" in text for word in rule.name.split()), (rule.id, text)
        assert f" {words[rule.tier.value]} " in blocks[rule.id][0]
    routes = {rule_id: [line.split()[-1] for line in block] for rule_id, block in blocks.items()}
    assert routes["R-SPINAL-RED-FLAG"] == ["mscc", "emergency"]
    # One route key a line, never cut (a key is what an operator configures and copies).
    for rule in RULES:
        for route in {rule.route, *(v.route for v in rule.variants if v.route)}:
            assert route in routes[rule.id]


def test_rules_json_describes_each_rule_in_display_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "rules", "--json")

    assert code == 0
    document = json.loads(out)
    assert document["ruleSet"] == "calf-cds 2026.2"  # the document GET /rules answers
    described = document["rules"]
    assert [row["id"] for row in described] == [rule.id for rule in RULES]
    by_id = {row["id"]: row for row in described}
    assert by_id["R-PAD"]["tier"] == "R"
    assert set(by_id["R-PAD"]["routes"]) == {"vascular", "abi-workup", "abi-exercise", "tbi"}
    assert by_id["R-PE-SIGN"]["routes"] == ["none"]
    assert [v["name"] for v in by_id["R-ALI"]["variants"]] == ["threatened", "painful-cold"]
    assert by_id["R-CAUDA-EQUINA"]["criteria"]


def test_rules_markdown_is_the_committed_docs_rules_md(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "rules", "--markdown")

    assert code == 0
    assert out == markdown()
    assert out == (REPO / "docs" / "rules.md").read_text(encoding="utf-8"), (
        "docs/rules.md is stale: run calf-cds rules --markdown > docs/rules.md"
    )


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


def test_an_unknown_option_is_refused_with_the_commands_own_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--bogus", "sample.json"])

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("usage: calf-cds evaluate ")
    assert "calf-cds evaluate: error: unrecognized arguments: --bogus" in err


def test_rules_json_and_markdown_together_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["rules", "--json", "--markdown"])

    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["rules", "--json"], ["rules"], ["rules", "--markdown"]])
def test_output_cut_short_by_its_reader_ends_without_a_traceback(command: list[str]) -> None:
    """`calf-cds rules --json | head -1`: the reader closes the pipe early."""
    import subprocess

    from served import CALF_CDS

    with subprocess.Popen(
        [str(CALF_CDS), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.read(64)
        process.stdout.close()
        errors = process.stderr.read()
        status = process.wait(timeout=30)

    assert first.strip()
    assert b"Traceback" not in errors
    assert status in (0, 1)
