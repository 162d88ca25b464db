"""The card console in a real browser: Debian's Chromium driven by Playwright over real HTTP.

`playwright install` is never used (no browser downloads here): Chromium comes from the
Debian package that scripts/test-prerequisites.sh installs for `make test`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SAMPLES, SYNTHEA, LiveServer, load_json

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely.json"
INJECTION_SAMPLE = "injection-img-onerror-display.json"
INJECTION = "<img src=x onerror=alert(1)>"
SYNTHEA_BUNDLE = SYNTHEA / "Brett_Gottlieb_0d2177ba-f67b-4f29-addb-91040de55388.json"
SCREENSHOT = REPO / "docs" / "img" / "dvt-card.png"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing: run `apt-get update && apt-get install -y chromium` "
            "(make test does this when run as root)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page plus what it raised: dialogs (alert would mean injected script ran) and
    console errors (a CSP violation would show there)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def injection_sample() -> dict[str, Any]:
    """The DVT sample with every Observation display and text, and the unit of its
    measurement, set to an <img> tag. The cards label findings from the catalog, so the display
    never reaches them, but a unit the service cannot read is echoed as sent (cut to 12
    characters: "3.5 <img src=x o") in the detail's Caveats: the console must draw it as
    text."""
    request = copy.deepcopy(load_json(SAMPLES / DVT_SAMPLE))
    for entry in request["prefetch"]["observations"]["entry"]:
        resource = entry["resource"]
        resource["code"]["text"] = INJECTION
        for coding in resource["code"].get("coding", []):
            coding["display"] = INJECTION
        if isinstance(resource.get("valueQuantity"), dict):
            resource["valueQuantity"].update(unit=INJECTION, code=INJECTION)
    return request


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The real DVT sample plus the injection sample in the console's samples directory."""
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / DVT_SAMPLE).write_bytes((SAMPLES / DVT_SAMPLE).read_bytes())
    (samples / INJECTION_SAMPLE).write_text(json.dumps(injection_sample()), encoding="utf-8")
    return {**app_config, "samples_dir": str(samples)}


def open_console(watched: Watched, live_server: LiveServer) -> Any:
    page = watched.page
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-console-ready='true']")
    return page


def paste(page: Any, text: str) -> None:
    """Paste through the system clipboard, as a tester does (fill() stalls on 375 kB)."""
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    page.focus("[data-testid=request-body]")
    page.keyboard.press("Control+V")
    assert len(page.input_value("[data-testid=request-body]")) == len(text)


def load_sample_and_send(page: Any, name: str) -> None:
    page.select_option("[data-testid=sample]", name)
    # (no wait_for_function: it evaluates a string, which the console's CSP rightly refuses)
    page.locator("[data-testid=status]").filter(has_text="Loaded").wait_for()
    page.click("[data-testid=send]")


def test_dvt_sample_card_is_accepted_and_the_feedback_is_stored(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)

    load_sample_and_send(console, DVT_SAMPLE)
    card = console.locator(
        "[data-testid=card][data-indicator=critical], [data-testid=card][data-indicator=warning]"
    ).first
    card.wait_for()
    assert "DVT" in card.locator("[data-testid=card-summary]").inner_text()
    assert card.locator("[data-testid=wells]").is_visible()
    assert card.locator("[data-testid=evidence] li").count() >= 1
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOT))
    card.locator("[data-testid=accept]").first.click()
    feedback = card.locator("[data-testid=feedback]")
    feedback.filter(has_text="feedback stored").wait_for()

    assert "stored 1" in feedback.inner_text()
    rows = {row.rule_id: row for row in live_server.app.extensions["calf-cds"].store.rule_report()}
    assert rows["R-DVT-PATHWAY"].accepted == 1
    assert page.dialogs == []
    assert page.console_errors == []


def test_pasted_synthea_bundle_goes_to_evaluate_and_renders(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)

    paste(console, SYNTHEA_BUNDLE.read_text(encoding="utf-8"))
    console.click("[data-testid=send]")
    status = console.locator("[data-testid=status]")
    status.filter(has_text="from /evaluate").wait_for()

    assert "HTTP" not in status.inner_text()
    raw = json.loads(console.locator("[data-testid=raw]").text_content() or "{}")
    assert isinstance(raw.get("cards"), list)
    assert console.locator("[data-testid=card]").count() == len(raw["cards"])
    assert page.dialogs == []


def test_markup_in_an_observation_display_renders_as_text(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)

    load_sample_and_send(console, INJECTION_SAMPLE)
    card = console.locator("[data-testid=card]").first
    card.wait_for()

    echoed = INJECTION[:12]  # a unit as sent is cut to 12 characters
    assert echoed in card.locator("[data-testid=card-detail]").inner_text()
    assert console.locator("img").count() == 0
    assert console.locator("[data-testid=cards] [onerror]").count() == 0
    console.wait_for_timeout(300)  # an injected onerror would fire on the failed image load
    assert page.dialogs == []


def test_markup_echoed_in_an_error_renders_as_text(page: Watched, live_server: LiveServer) -> None:
    console = open_console(page, live_server)
    request = load_json(SAMPLES / DVT_SAMPLE)
    request["hook"] = "<img src=x onerror=alert(2)>"

    paste(console, json.dumps(request))
    console.click("[data-testid=send]")
    status = console.locator("[data-testid=status]")
    status.filter(has_text="HTTP 400").wait_for()

    assert "<img src=x onerror=alert(2)>" in status.inner_text()
    assert console.locator("img").count() == 0
    console.wait_for_timeout(300)
    assert page.dialogs == []
