"""The whole data loop in a real browser (issue 20, item 7): Debian's Chromium driven by
Playwright against calf-cds and `calf-cds dev-ehr`, both served on loopback.

DVT sample in the console -> the card's "Complete the red-flag check" link -> the dev EHR
launches the app -> SMART launch -> authorize -> the form (420 px wide, keyboard) -> submit ->
Observations in the dev EHR's store -> the hook called again -> Wells complete, next step
changed. The form's screenshot goes to docs/img/ for the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import test_browser_console
from conftest import REPO, SAMPLES, load_json
from conftest_smart import CLIENT_ID, DVT_SAMPLE, SmartWorld, sample_patient, written
from test_browser_console import TIMEOUT_MS, Watched

from cds.fhir.resources import problems

pytestmark = pytest.mark.browser

SCREENSHOT = REPO / "docs" / "img" / "smart-red-flag-check.png"
RESULT_SCREENSHOT = REPO / "docs" / "img" / "smart-result-card.png"
PATIENT = sample_patient()
NARROW = {"width": 420, "height": 900}
# The clinician's findings: the left leg swollen, 3 cm larger, pitting and tender along the
# deep veins; every other item examined and absent.
LEFT_PRESENT = (
    "F-LEG-SWELLING:left",
    "F-CALF-SWELLING-3CM:left",
    "F-PITTING-EDEMA:left",
    "F-DEEP-VEIN-TENDERNESS:left",
)


# The console module's Chromium, used here as there.
browser = test_browser_console.browser


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def hook_again(world: SmartWorld) -> dict[str, Any]:
    """The next real hook call: the EHR sends no Observations, calf-cds fetches them."""
    request = load_json(SAMPLES / DVT_SAMPLE)
    del request["prefetch"]["observations"]
    request["fhirServer"] = world.fhir_base
    request["fhirAuthorization"] = {
        "access_token": world.ehr.issue_token(PATIENT),
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Observation.rs patient/Condition.rs",
        "subject": CLIENT_ID,
    }
    answer = httpx.post(f"{world.url}/cds-services/calf-pain-triage", json=request, timeout=20)
    assert answer.status_code == 200, answer.text
    card: dict[str, Any] = answer.json()["cards"][0]
    return card


def test_the_red_flag_check_closes_the_data_loop(smart_world: SmartWorld, context: Any) -> None:
    console = Watched(context.new_page())
    console.page.goto(smart_world.url + "/")
    console.page.wait_for_selector("html[data-console-ready='true']")
    console.page.select_option("[data-testid=sample]", DVT_SAMPLE)
    console.page.locator("[data-testid=status]").filter(has_text="Loaded").wait_for()
    console.page.click("[data-testid=send]")
    card = console.page.locator("[data-testid=card]").first
    summary_before = card.locator("[data-testid=card-summary]").inner_text()
    link = card.locator("[data-testid=smart-link] a")
    assert link.inner_text() == "Complete the red-flag check"

    with context.expect_page() as opened:
        link.click()
    app = Watched(opened.value)
    page = app.page
    page.set_viewport_size(NARROW)
    page.wait_for_selector("[data-testid=check-form]")

    assert "Perry Example" in page.locator("[data-testid=patient-name]").inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
    # Every question examined: absent by default, the left-leg DVT signs present.
    names = page.eval_on_selector_all(
        "input[type=radio][value=absent]", "nodes => nodes.map(n => n.name)"
    )
    for name in names:
        if name == "F-FEVER":
            continue  # answered with the keyboard below
        value = "present" if name in LEFT_PRESENT else "absent"
        page.check(f"input[name='{name}'][value='{value}']")
    # Keyboard: arrows move within a question's answers; Enter on the button saves.
    page.focus("input[name='F-FEVER'][value='not-examined']")
    page.keyboard.press("ArrowUp")
    assert page.is_checked("input[name='F-FEVER'][value='absent']")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.focus("[data-testid=save]")
    page.keyboard.press("Enter")

    page.wait_for_url("**/smart/result")
    summary = page.locator("[data-testid=card-summary]").first.inner_text()
    steps = page.locator("[data-testid=steps]").first.inner_text()
    assert summary.startswith("DVT likely (Wells 3): proximal leg-vein ultrasound within 4 h")
    assert page.locator("[data-testid=wells]").first.inner_text() == "Wells 3 (likely)"
    assert "Complete the Wells items" not in steps
    assert page.locator("[data-testid=saved] li").count() == len(written(smart_world, PATIENT))
    page.locator("[data-testid=card]").first.screenshot(path=str(RESULT_SCREENSHOT))

    observations = written(smart_world, PATIENT)
    assert len(observations) == 21
    assert all(problems(observation) == [] for observation in observations)
    tender = [o for o in observations if o["code"]["coding"][0]["code"] == "deep-vein-tenderness"]
    assert [(o["valueBoolean"], o["bodySite"]["coding"][1]["display"]) for o in tender] == [
        (True, "Left"),
        (False, "Right"),
    ]

    after = hook_again(smart_world)
    own = after["extension"]["example.calf-cds"]
    assert summary_before.startswith("Possible DVT (Wells incomplete, treat as likely)")
    assert after["summary"] == summary
    assert own["wells"]["score"] == 3
    assert all(item["status"] != "not-recorded" for item in own["wells"]["items"])
    assert own["nextSteps"][0] == "Proximal leg-vein ultrasound within 4 h."
    assert app.dialogs == []
    assert console.dialogs == []
    assert app.console_errors == []  # a CSP violation would show here
