"""Alert-fatigue reporting: `GET /reports/rules` and `calf-cds report`, `calf-cds db upgrade`.

On both databases (`[sqlite]`, `[postgresql]`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest_store import (
    T0,
    accepted,
    close_store_app,
    dead_postgres_url,
    issued_card,
    overridden,
)
from flask import Flask

from cds.cli import main
from cds.cli.store import render_report
from cds.store import Store
from cds.store.records import ReasonCount, RuleReport, RuleReportRow

CALF_CDS = Path(sys.executable).with_name("calf-cds")


def seed(store: Store) -> None:
    """R-DVT-1: 4 issued, 1 accepted, 2 overridden; R-ALI-1: 1 issued; 1 unmatched outcome."""
    dvt = [issued_card(rule_id="R-DVT-1", suggestions=(f"s-{n}",)) for n in range(3)]
    old = issued_card(rule_id="R-DVT-1", created_at=T0 - timedelta(days=30))
    ali = issued_card(rule_id="R-ALI-1")
    store.record_issued([*dvt, old, ali])
    store.record_feedback(
        [
            accepted(dvt[0]),
            overridden(dvt[1], "not-applicable", display="Not applicable"),
            overridden(old, "already-done", display="Already done"),
            overridden(str(uuid.uuid4())),
        ]
    )


# --- GET /reports/rules ---


def test_rules_report_gives_counts_rates_and_reasons(store_app: Flask, store_client: Any) -> None:
    seed(store_app.extensions["calf-cds"].store)

    response = store_client.get("/reports/rules")

    assert response.status_code == 200
    body = response.get_json()
    assert body["unmatchedFeedback"] == 1
    assert body["since"] is None
    rules = {row["ruleId"]: row for row in body["rules"]}
    assert rules["R-DVT-1"] == {
        "ruleId": "R-DVT-1",
        "issued": 4,
        "accepted": 1,
        "overridden": 2,
        "overrideRate": pytest.approx(2 / 3, abs=1e-4),
        "topOverrideReasons": [
            {
                "system": "http://calf-cds.example/fhir/CodeSystem/override-reason",
                "code": "already-done",
                "display": "Already done",
                "count": 1,
            },
            {
                "system": "http://calf-cds.example/fhir/CodeSystem/override-reason",
                "code": "not-applicable",
                "display": "Not applicable",
                "count": 1,
            },
        ],
    }
    assert rules["R-ALI-1"]["overrideRate"] is None


def test_rules_report_since_a_date(store_app: Flask, store_client: Any) -> None:
    seed(store_app.extensions["calf-cds"].store)

    body = store_client.get("/reports/rules?since=2026-11-20").get_json()

    assert body["since"] == "2026-11-20"
    rules = {row["ruleId"]: row for row in body["rules"]}
    assert (rules["R-DVT-1"]["issued"], rules["R-DVT-1"]["overridden"]) == (3, 1)


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "2026-11-25T00:00:00Z", "20261125"])
def test_rules_report_with_a_bad_date_is_400(store_client: Any, since: str) -> None:
    response = store_client.get("/reports/rules", query_string={"since": since})

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["diagnostics"].startswith("since:")


@pytest.mark.postgres
def test_rules_report_is_503_while_the_database_is_down() -> None:
    from cds import create_app

    app = create_app({"database_url": dead_postgres_url(), "auth_mode": "off"})
    try:
        response = app.test_client().get("/reports/rules")
    finally:
        close_store_app(app)

    assert response.status_code == 503
    assert "Retry-After" in response.headers


# --- the command line ---


@pytest.fixture
def cli_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    """CDS_DATABASE_URL points the CLI at a migrated, seeded store."""
    monkeypatch.setenv("CDS_DATABASE_URL", store_url)
    monkeypatch.setenv("CDS_LOG_LEVEL", "ERROR")
    with Store.open(store_url) as store:
        store.upgrade()
        seed(store)
        return store


def test_cli_report_table(cli_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 0

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["RULE", "ISSUED", "ACCEPTED", "OVERRIDDEN"]
    dvt = next(line for line in lines if line.startswith("R-DVT-1"))
    assert dvt.split()[1:5] == ["4", "1", "2", "66.7%"]
    assert "already-done (Already done) x1" in dvt
    assert "2 rules with cards issued" in lines
    assert "unmatched feedback (card not recorded): 1" in out


def test_cli_report_counts_rules_in_the_singular_and_the_plural() -> None:
    row = RuleReportRow("R-ALI-1", issued=1, accepted=0, overridden=0, override_rate=None)
    quality = RuleReportRow(None, issued=2, accepted=0, overridden=0, override_rate=None)

    one = render_report(RuleReport(rows=(row, quality), unmatched_feedback=0), "table")
    none = render_report(RuleReport(rows=(), unmatched_feedback=0), "table")

    assert "1 rule with cards issued" in one.splitlines()
    assert "0 rules with cards issued" in none.splitlines()


def report_overridden_for(reason: ReasonCount) -> RuleReport:
    """One rule whose every card was overridden, for `reason`."""
    count = reason.count
    row = RuleReportRow(
        "R-ALI-1",
        issued=count,
        accepted=0,
        overridden=count,
        override_rate=1.0,
        top_override_reasons=(reason,),
    )
    return RuleReport(rows=(row,), unmatched_feedback=0)


@pytest.mark.parametrize("form", ["table", "csv"])
def test_cli_report_shows_control_characters_from_feedback_never_sends_them(form: str) -> None:
    reason = ReasonCount("urn:x", "code\x1b[2J", "ok\x1b]0;pwned\x07\nnext", 2)

    out = render_report(report_overridden_for(reason), form)

    assert "\x1b" not in out
    assert "\x07" not in out
    assert "code\\x1b[2J (ok\\x1b]0;pwned\\x07\\nnext) x2" in out


def test_cli_report_csv_never_starts_a_reason_cell_with_a_formula() -> None:
    formula = ReasonCount("urn:x", '=HYPERLINK("http://x")', "\u202eevil", 1)

    out = render_report(report_overridden_for(formula), "csv")

    (cells,) = list(csv.DictReader(io.StringIO(out)))
    assert cells["top_override_reasons"] == '\'=HYPERLINK("http://x") (\\u202eevil) x1'


def test_cli_report_csv(cli_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--format", "csv", "--since", "2026-11-20"]) == 0

    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    dvt = next(row for row in rows if row["rule"] == "R-DVT-1")
    assert (dvt["issued"], dvt["accepted"], dvt["overridden"]) == ("3", "1", "1")
    assert dvt["override_rate"] == "50.0%"
    assert "unmatched feedback: 1" in captured.err


def test_cli_report_json_is_the_http_body(
    cli_store: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--format", "json"]) == 0

    body = json.loads(capsys.readouterr().out)
    assert body["unmatchedFeedback"] == 1
    assert [row["ruleId"] for row in body["rules"]] == ["R-ALI-1", "R-DVT-1"]


def test_cli_report_rejects_a_bad_date(cli_store: Store) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--since", "last-week"])
    assert exit_info.value.code == 2


@pytest.mark.postgres
def test_cli_report_says_when_the_store_is_down(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", dead_postgres_url())
    monkeypatch.setenv("CDS_LOG_LEVEL", "ERROR")

    assert main(["report"]) == 1
    assert "unavailable" in capsys.readouterr().err


def test_cli_report_names_the_sqlite_file_it_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default URL is relative: run from another directory, the report finds no store
    and says which file it looked for."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CDS_DATABASE_URL", "sqlite:///calf-cds.sqlite3")
    monkeypatch.setenv("CDS_LOG_LEVEL", "ERROR")

    assert main(["report"]) == 1
    assert f"(the file {tmp_path.resolve() / 'calf-cds.sqlite3'};" in capsys.readouterr().err


def test_installed_calf_cds_db_upgrade_migrates(store_url: str) -> None:
    """The console script, from any directory: the migrations ship inside the package."""
    env = {**os.environ, "CDS_DATABASE_URL": store_url, "CDS_LOG_LEVEL": "ERROR"}

    upgraded = subprocess.run(
        [str(CALF_CDS), "db", "upgrade"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    current = subprocess.run(
        [str(CALF_CDS), "db", "current"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert upgraded.returncode == 0, upgraded.stderr
    assert "revision 0002" in upgraded.stdout
    assert "password" not in upgraded.stdout
    assert current.stdout.strip() == "0002"


@pytest.fixture
def upgraded_store(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """The CLI pointed at a store migrated to the head revision (its output read away)."""
    monkeypatch.setenv("CDS_DATABASE_URL", store_url)
    monkeypatch.setenv("CDS_LOG_LEVEL", "ERROR")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    return store_url


def test_cli_db_downgrade_goes_back_to_a_revision_and_refuses_an_unknown_one(
    upgraded_store: str, capsys: pytest.CaptureFixture[str]
) -> None:

    assert main(["db", "downgrade", "0001"]) == 0
    assert "is at revision 0001" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == "0001"

    assert main(["db", "downgrade", "9999"]) == 2
    assert "9999" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert "is at revision 0002" in capsys.readouterr().out


def test_cli_db_downgrade_to_base_needs_yes_and_keeps_the_data_without_it(
    upgraded_store: str, capsys: pytest.CaptureFixture[str]
) -> None:

    assert main(["db", "downgrade", "base"]) == 2
    assert "may drop every table" in capsys.readouterr().err
    assert main(["db", "downgrade", "-2"]) == 2  # relative: it can reach base too
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == "0002"  # nothing was dropped

    assert main(["db", "downgrade", "base", "--yes"]) == 0
    assert "is at revision None" in capsys.readouterr().out
