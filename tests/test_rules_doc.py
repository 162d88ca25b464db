"""docs/rules.md is generated from the rule table and the finding catalog, and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cds.core.describe import catalog, markdown
from cds.core.rules import RULES

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def test_docs_rules_md_is_the_current_generated_text() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/rules.md is stale: run `calf-cds rules --markdown > docs/rules.md`"
    )


def test_the_cli_writes_the_same_text() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cds.cli", "rules", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout == markdown()


def test_every_rule_is_described_with_tier_route_criteria_codes_and_source() -> None:
    text = markdown()

    for rule, described in zip(RULES, catalog(), strict=True):
        assert f"## {rule.id}" in text
        assert described.criteria
        assert described.source
        assert described.codes or rule.id == "R-NO-RED-FLAG-DATA"
        assert f"- **Fires when**: {described.criteria}." in text
        assert f"`{rule.route}`" in text


def test_criteria_read_as_words_not_as_code() -> None:
    dvt = next(d for d in catalog() if d.id == "R-DVT-PATHWAY")

    assert dvt.criteria.startswith(
        "a calf symptom (calf pain, leg or ankle swelling, or cramp) and"
    )
    assert "leg swelling, one side or side unknown" in dvt.criteria
    assert "Present(" not in dvt.criteria


def test_the_console_rules_page_shows_each_rules_criteria(client: object) -> None:
    response = client.get("/console/rules")  # type: ignore[attr-defined]

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('data-testid="criteria"') == len(RULES)
    assert "Fires when a calf symptom" in page
