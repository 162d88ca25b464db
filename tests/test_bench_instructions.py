"""`bench/instructions.py`: the count it prints is valgrind's difference per request, and a
machine without valgrind gets one clear line, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # bench/ is scripts, not an installed package

from bench import instructions  # noqa: E402


def fake_valgrind(collected: dict[int, str], apps: list[str] | None = None) -> Any:
    """subprocess.run standing in for valgrind: its stderr for the run count asked for; the
    request path of each counted run is appended to `apps`."""

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        runs = int(command[command.index("--inner") + 1])
        if apps is not None:
            apps.append(command[command.index("--app") + 1])
        return subprocess.CompletedProcess(command, 0, "", collected[runs])

    return run


def test_prints_the_difference_per_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda _: "/usr/bin/valgrind")
    monkeypatch.setattr(
        instructions.subprocess,
        "run",
        fake_valgrind({0: "==1== Collected : 500000000\n", 4: "==1== Collected : 586000000\n"}),
    )

    assert instructions.main(["--runs", "4"]) == 0
    assert capsys.readouterr().out.strip() == ("instructions 200 obs  runs 4  21.50 M per request")


def test_an_app_path_is_counted_and_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda _: "/usr/bin/valgrind")
    apps: list[str] = []
    monkeypatch.setattr(
        instructions.subprocess,
        "run",
        fake_valgrind(
            {0: "==1== Collected : 500000000\n", 10: "==1== Collected : 733000000\n"}, apps
        ),
    )

    assert instructions.main(["--app", "calf"]) == 0
    assert apps == ["calf", "calf"]
    assert capsys.readouterr().out.strip() == (
        "instructions 200 obs  runs 10  calf app  23.30 M per request"
    )


def test_valgrind_output_without_a_count_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        instructions.subprocess, "run", fake_valgrind({0: "==1== something else\n"})
    )

    with pytest.raises(SystemExit, match="valgrind printed no instruction count"):
        instructions._count(0, 200)


def test_without_valgrind_it_says_so_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda _: None)

    assert instructions.main([]) == 1
    assert "valgrind is not installed" in capsys.readouterr().err


def test_the_counted_run_answers_the_bench_request_with_its_cards() -> None:
    answer = instructions._inner(1, 200)

    rule_ids = [card["extension"]["example.calf-cds"].get("ruleId") for card in answer["cards"]]
    assert "R-DVT-PATHWAY" in rule_ids


def test_the_counted_app_run_answers_through_flask_with_the_same_cards() -> None:
    served = instructions._inner_app("calf", 1, 200)
    engine = instructions._inner(1, 200)

    def summaries(answer: dict[str, Any]) -> list[tuple[str, str]]:
        return [(card["indicator"], card["summary"]) for card in answer["cards"]]

    assert summaries(served) == summaries(engine)
    assert len(served["cards"]) == 5


def test_the_bare_app_run_parses_the_body() -> None:
    assert instructions._inner_app("bare", 1, 200) == {"cards": [], "received": True}
