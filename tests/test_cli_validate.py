"""`calf-cds validate FILE`: full R4 validity by fhir.resources, unlike the hook's reading path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES

from cds.cli import main

INVALID = {
    "resourceType": "Observation",
    "id": "o7",
    "status": "final",
    "code": {"text": "calf pain"},
    "valueQuantity": {"value": "abc"},
    "issued": "2026-11-25",
    "unknownElement": 1,
}


def validate(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_sample_request_has_every_prefetch_resource_valid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = validate(capsys, SAMPLES / "dvt-unilateral-swelling-wells-likely.json")

    assert code == 0
    assert "prefetch.observations (Bundle): valid" in out.splitlines()
    assert out.rstrip().endswith("3 resources checked, 0 invalid")


def test_each_invalid_element_is_named_and_the_exit_code_is_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "o7.json"
    path.write_text(json.dumps(INVALID))

    code, out, _ = validate(capsys, path)

    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "Observation/o7: 3 problems"
    assert {line.split(":")[0].strip("- ").strip() for line in lines[1:4]} == {
        "issued",
        "valueQuantity.value",
        "unknownElement",
    }
    assert lines[-1] == "1 resource checked, 1 invalid"


def test_ndjson_is_checked_line_by_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    valid = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}
    path = tmp_path / "resources.ndjson"
    path.write_text(json.dumps(valid) + "\n\n" + json.dumps(INVALID) + "\n")

    code, out, _ = validate(capsys, path)

    assert code == 1
    assert "line 1 (Patient/p1): valid" in out.splitlines()
    assert "line 3 (Observation/o7): 3 problems" in out.splitlines()
    assert out.rstrip().endswith("2 resources checked, 1 invalid")


def test_each_ndjson_line_is_judged_alone_and_odd_text_is_printed_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    surrogate = json.dumps({"resourceType": "Patient", "id": "\ud800"})  # RFC 8259 allows it
    path = tmp_path / "resources.ndjson"
    path.write_text(surrogate + "\n{not json\n", encoding="utf-8")

    code, out, _ = validate(capsys, path)

    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("line 1 (Patient/\\ud800): ")
    assert (
        "line 2 (not JSON): not JSON (Expecting property name enclosed in double quotes at "
        "column 2)" in lines
    )
    assert out.rstrip().endswith("2 resources checked, 2 invalid")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(
            b"{not json",
            "not JSON (Expecting property name enclosed in double quotes at line 1, column 2)",
            id="broken-json",
        ),
        pytest.param(b"\xff\xfe", "not UTF-8 text (byte 0)", id="not-utf8"),
        pytest.param(b"[" * 100_000, "JSON nested too deeply", id="too-deep"),
    ],
)
def test_an_unreadable_file_is_exit_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)

    code, out, err = validate(capsys, path)

    assert code == 1  # README "Exit codes": 1 for a file that cannot be read
    assert out == ""
    assert err == f"calf-cds: cannot read {path}: {reason}\n"


def test_a_missing_file_is_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = validate(capsys, tmp_path / "absent.json")

    assert code == 1
    assert err == f"calf-cds: cannot read {tmp_path / 'absent.json'}: no such file\n"
