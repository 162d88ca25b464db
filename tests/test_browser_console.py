"""The card console in a real browser: Debian's Chromium driven by Playwright over real HTTP.

`playwright install` is never used (no browser downloads here): Chromium comes from the
Debian package that scripts/test-prerequisites.sh installs for `make test`. One browser and
one live server per module (the file runs in well under a minute); each test opens its own
browser context, and store checks compare counts before and after.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    REPO,
    SAMPLE_CLOCK,
    SAMPLES,
    SYNTHEA,
    LiveServer,
    load_json,
    prefetch_as_bundle,
    serving,
)

from cds import create_app

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
SIDE_UNKNOWN_DVT_SAMPLE = "laterality-side-unknown-swelling-dvt.json"
NO_RED_FLAG_SAMPLE = "calf-pain-no-red-flag-data.json"
INJECTION_SAMPLE = "injection-img-onerror-display.json"
INJECTION = "<img src=x onerror=alert(1)>"
SYNTHEA_BUNDLE = SYNTHEA / "Brett_Gottlieb_0d2177ba-f67b-4f29-addb-91040de55388.json"
SCREENSHOTS = REPO / "docs" / "img"
TIMEOUT_MS = 15_000
UNDO_MS = 5_000  # cds/static/console.js UNDO_MS
CARD_HEIGHT_LIMIT = 900  # issue 19: the DVT card at 1280 px wide
DVT_ORDER = "Referral to DVT clinic, priority urgent, performer Phlebology"
# Visible text must not show the engine's ids: finding and rule ids, references, route keys.
INTERNAL_IDS = re.compile(r"\b[FR]-[A-Z][A-Z0-9-]+|Observation/|Condition/|dvt-pathway|\bTier\b")


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
    """A page plus what it raised: dialogs (alert would mean injected script ran), console
    errors (a CSP violation would show there) and the feedback it posted."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.feedback_posts: list[dict[str, Any]] = []
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("request", self._on_request)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_request(self, request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/feedback"):
            self.feedback_posts.append(request.post_data_json)


Opener = Callable[..., Watched]


@pytest.fixture
def open_page(browser: Any) -> Iterator[Opener]:
    """Opens pages in fresh contexts: `open_page(width=420, clock=True)`. With `clock`, the
    page's timers are Playwright's fake clock, so the undo delay runs only when a test says."""
    contexts: list[Any] = []

    def opener(width: int = 1280, height: int = 900, clock: bool = False) -> Watched:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            permissions=["clipboard-read", "clipboard-write"],
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if clock:
            page.clock.install()
        return Watched(page)

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Opener) -> Watched:
    return open_page()


def injection_sample() -> dict[str, Any]:
    """The DVT sample with every Observation display and text, and the unit of its
    measurement, set to an <img> tag. The cards label findings from the catalog, so the display
    never reaches them, but a unit the service cannot read is echoed as sent (cut to 12
    characters: "3.5 <img src=x o") in the card's caveats: the console must draw it as text."""
    request = copy.deepcopy(load_json(SAMPLES / DVT_SAMPLE))
    for entry in request["prefetch"]["observations"]["entry"]:
        resource = entry["resource"]
        resource["code"]["text"] = INJECTION
        for coding in resource["code"].get("coding", []):
            coding["display"] = INJECTION
        if isinstance(resource.get("valueQuantity"), dict):
            resource["valueQuantity"].update(unit=INJECTION, code=INJECTION)
    return request


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on loopback with real samples plus the injection sample as its samples."""
    root = tmp_path_factory.mktemp("console")
    samples = root / "samples"
    samples.mkdir()
    for name in (DVT_SAMPLE, NO_RED_FLAG_SAMPLE, SIDE_UNKNOWN_DVT_SAMPLE):
        (samples / name).write_bytes((SAMPLES / name).read_bytes())
    (samples / INJECTION_SAMPLE).write_text(json.dumps(injection_sample()), encoding="utf-8")
    application = create_app(
        {
            "database_url": f"sqlite:///{root / 'calf-cds.sqlite3'}",
            "evaluation_time": SAMPLE_CLOCK,
            "auth_mode": "off",
            "samples_dir": str(samples),
        }
    )
    store = application.extensions["calf-cds"].store
    store.upgrade()
    try:
        with serving(application) as url:
            yield LiveServer(url=url, app=application)
    finally:
        store.close()


# --- helpers -------------------------------------------------------------------------------


def open_console(watched: Watched, live_server: LiveServer) -> Any:
    page = watched.page
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-console-ready='true']")
    return page


def paste(page: Any, text: str) -> None:
    """Paste through the system clipboard, as a tester does (fill() stalls on 375 kB)."""
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    page.focus("[data-testid=request-body]")
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+V")
    assert len(page.input_value("[data-testid=request-body]")) == len(text)


def load_sample(page: Any, name: str) -> None:
    page.select_option("[data-testid=sample]", name)
    # (no wait_for_function: it evaluates a string, which the console's CSP rightly refuses)
    page.locator("[data-testid=status]").filter(has_text=f"Loaded {name}").wait_for()


def send_and_wait(page: Any) -> None:
    page.click("[data-testid=send]")
    page.locator("[data-testid=status].status-ok, [data-testid=status].status-error").wait_for()


def show_sample(page: Any, name: str) -> Any:
    """Load a sample, send it, and return the first card."""
    load_sample(page, name)
    send_and_wait(page)
    card = page.locator("[data-testid=card]").first
    card.wait_for()
    return card


def open_every_disclosure(page: Any) -> None:
    page.locator("details").evaluate_all("nodes => nodes.forEach(node => { node.open = true; })")


def scroll_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def rule_row(live_server: LiveServer, rule_id: str) -> Any:
    rows = live_server.app.extensions["calf-cds"].store.rule_report()
    return next(row for row in rows if row.rule_id == rule_id)


def focus_by_tab(page: Any, testid: str, limit: int = 60) -> None:
    """Press Tab until the element with `testid` has the focus (fails past `limit` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.dataset.testid") == (
            testid
        ):
            return
    pytest.fail(f"{testid} is not reachable with Tab")


def focused_testid(page: Any) -> str | None:
    value = page.evaluate("document.activeElement && document.activeElement.dataset.testid")
    return str(value) if value else None


# --- the card, once, as an EHR sidebar shows it ----------------------------------------------


def test_dvt_card_shows_each_element_once_in_sidebar_order_and_fits_900px(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)

    card = show_sample(console, DVT_SAMPLE)

    assert "DVT likely" in card.locator("[data-testid=card-summary]").inner_text()
    order = card.locator("[data-testid]").evaluate_all(
        "nodes => nodes.map(node => node.dataset.testid)"
    )
    sections = [
        "card-summary",
        "next-steps",
        "evidence",
        "wells",
        "ddimer",
        "not-recorded",
        "safety-net",
        "actions",
        "tester-details",
    ]
    assert [testid for testid in order if testid in sections] == sections
    visible = card.inner_text()
    for once in (
        "Calf pain, left, 2026-11-25",
        "Proximal leg-vein ultrasound within 4 h.",
        "active cancer",
        "Pitting oedema of the symptomatic leg",
        "Seek help at once",
        "D-dimer: none in the last 72 h.",
        "phlebologist or hospital DVT clinic today",  # by Accept, not also in the steps
    ):
        assert visible.count(once) == 1, once
    assert INTERNAL_IDS.findall(visible) == []
    wells_rows = card.locator("[data-testid=wells-item]").all_inner_texts()
    assert [re.sub(r"\s+", " ", row) for row in wells_rows] == [
        "Calf swelling 3 cm or more present +1",
        "Pitting oedema of the symptomatic leg present +1",
    ]
    height = card.bounding_box()["height"]
    assert height <= CARD_HEIGHT_LIMIT, f"the DVT card is {height:.0f} px tall"
    assert console.locator("[data-testid=evaluated-at]").inner_text() == (
        "Evaluated as of 2026-11-25 12:00 UTC"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOTS / "console-dvt-1280.png"))
    assert page.console_errors == []


def test_ids_and_references_wait_behind_disclosures(page: Watched, live_server: LiveServer) -> None:
    console = open_console(page, live_server)
    card = show_sample(console, DVT_SAMPLE)
    reference = card.locator("[data-testid=evidence-reference]").first
    tester = card.locator("[data-testid=tester-details]")

    assert not reference.is_visible()
    assert "R-DVT-PATHWAY" not in card.inner_text()
    card.locator("[data-testid=evidence-item] summary").first.click()
    tester.locator("summary").click()

    assert reference.inner_text() == "Observation/calf-cfb87f2dd1bf-obs-1"
    facts = tester.inner_text()
    assert "R-DVT-PATHWAY" in facts
    assert "likely" in facts
    assert "dvt-pathway" in facts
    # The markdown detail, as an EHR without the extension shows it, for comparison.
    assert "Why" in tester.locator("[data-testid=card-detail]").inner_text()


@pytest.mark.parametrize(
    ("sample", "testid", "line"),
    [
        pytest.param(
            "old-data-outside-window.json",
            "also-noted",
            "Lower leg swelling, left, 2026-11-05, outside its time window",
            id="also-noted",
        ),
        pytest.param(
            "undated-swelling-counts-as-current.json",
            "caveats",
            "Undated: Lower leg swelling counted as current.",
            id="caveats",
        ),
    ],
)
def test_records_cited_in_also_noted_and_caveats_wait_behind_disclosures(
    page: Watched, live_server: LiveServer, sample: str, testid: str, line: str
) -> None:
    console = open_console(page, live_server)
    paste(console, (SAMPLES / sample).read_text(encoding="utf-8"))
    send_and_wait(console)
    section = console.locator(f"[data-testid={testid}]").first

    assert line in section.inner_text()
    assert INTERNAL_IDS.findall(console.locator("[data-testid=cards]").inner_text()) == []
    section.locator("summary").first.click()
    assert (
        section.locator("[data-testid=record-reference]")
        .first.inner_text()
        .startswith("Observation/calf-")
    )


# --- feedback: only what was chosen --------------------------------------------------------


def test_accept_shows_the_service_request_and_sends_after_the_undo_delay(
    open_page: Opener, live_server: LiveServer
) -> None:
    watched = open_page(clock=True)
    console = open_console(watched, live_server)
    card = show_sample(console, DVT_SAMPLE)
    accepted = rule_row(live_server, "R-DVT-PATHWAY").accepted

    assert card.locator("[data-testid=proposal-order]").inner_text() == DVT_ORDER
    card.locator("[data-testid=accept]").click()
    pending = card.locator("[data-testid=pending-accept]")

    assert DVT_ORDER in pending.inner_text()
    assert watched.feedback_posts == []
    assert card.locator("[data-testid=override]").is_disabled()
    console.clock.run_for(UNDO_MS)
    feedback = card.locator("[data-testid=feedback]")
    feedback.filter(has_text="feedback stored").wait_for()

    assert feedback.inner_text() == (
        f"Accepted: draft ServiceRequest {DVT_ORDER}; feedback stored."
    )
    [posted] = watched.feedback_posts
    [entry] = posted["feedback"]
    assert entry["outcome"] == "accepted"
    assert "overrideReason" not in entry
    assert rule_row(live_server, "R-DVT-PATHWAY").accepted == accepted + 1
    assert pending.count() == 0


def test_undo_within_the_delay_sends_nothing(open_page: Opener, live_server: LiveServer) -> None:
    watched = open_page(clock=True)
    console = open_console(watched, live_server)
    card = show_sample(console, DVT_SAMPLE)
    accepted = rule_row(live_server, "R-DVT-PATHWAY").accepted

    card.locator("[data-testid=accept]").click()
    console.clock.run_for(UNDO_MS - 1_000)
    card.locator("[data-testid=undo]").click()
    console.clock.run_for(UNDO_MS * 2)

    assert card.locator("[data-testid=feedback]").inner_text() == (
        "Accept undone: nothing was sent."
    )
    assert watched.feedback_posts == []
    assert card.locator("[data-testid=accept]").is_enabled()
    assert focused_testid(console) == "accept"
    assert rule_row(live_server, "R-DVT-PATHWAY").accepted == accepted


def test_accept_by_keyboard_alone(open_page: Opener, live_server: LiveServer) -> None:
    watched = open_page(clock=True)
    console = open_console(watched, live_server)
    card = show_sample(console, DVT_SAMPLE)
    accepted = rule_row(live_server, "R-DVT-PATHWAY").accepted

    focus_by_tab(console, "accept")
    console.keyboard.press("Enter")
    assert focused_testid(console) == "undo"  # undo is one key away
    console.clock.run_for(UNDO_MS)
    card.locator("[data-testid=feedback]").filter(has_text="feedback stored").wait_for()

    assert rule_row(live_server, "R-DVT-PATHWAY").accepted == accepted + 1


def test_override_by_keyboard_alone_needs_a_chosen_reason(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    card = show_sample(console, DVT_SAMPLE)
    overridden = rule_row(live_server, "R-DVT-PATHWAY").overridden
    override = card.locator("[data-testid=override]")
    reason = card.locator("[data-testid=override-reason]")

    assert reason.input_value() == ""  # nothing preselected
    assert override.is_disabled()
    focus_by_tab(console, "override-reason")
    console.keyboard.press("ArrowDown")
    assert reason.input_value() == "0"
    assert override.is_enabled()
    console.keyboard.press("Tab")
    console.keyboard.type("seen in the DVT clinic yesterday")
    console.keyboard.press("Tab")
    assert focused_testid(console) == "override"
    console.keyboard.press("Enter")
    card.locator("[data-testid=feedback]").filter(has_text="feedback stored").wait_for()

    [posted] = page.feedback_posts
    [entry] = posted["feedback"]
    assert entry["outcome"] == "overridden"
    assert entry["overrideReason"] == {
        "reason": {
            "system": "http://calf-cds.example/fhir/CodeSystem/override-reason",
            "code": "already-referred",
            "display": "Already referred",
        },
        "userComment": "seen in the DVT clinic yesterday",
    }
    row = rule_row(live_server, "R-DVT-PATHWAY")
    assert row.overridden == overridden + 1
    assert "already-referred" in [reason.code for reason in row.top_override_reasons]


def test_choosing_no_reason_again_disables_override(page: Watched, live_server: LiveServer) -> None:
    console = open_console(page, live_server)
    card = show_sample(console, DVT_SAMPLE)
    reason = card.locator("[data-testid=override-reason]")

    reason.select_option("2")
    assert card.locator("[data-testid=override]").is_enabled()
    reason.select_option("")

    assert card.locator("[data-testid=override]").is_disabled()


def test_card_without_a_suggestion_offers_dismiss_which_sends_no_reason(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    card = show_sample(console, NO_RED_FLAG_SAMPLE)
    overridden = rule_row(live_server, "R-NO-RED-FLAG-DATA").overridden

    assert card.locator("[data-testid=accept]").count() == 0
    assert card.locator("[data-testid=override]").count() == 0
    assert card.locator("[data-testid=override-reason]").count() == 0
    card.locator("[data-testid=dismiss]").click()
    card.locator("[data-testid=feedback]").filter(has_text="feedback stored").wait_for()

    [posted] = page.feedback_posts
    [entry] = posted["feedback"]
    assert entry["outcome"] == "overridden"
    assert "overrideReason" not in entry
    row = rule_row(live_server, "R-NO-RED-FLAG-DATA")
    assert row.overridden == overridden + 1
    assert [reason.code for reason in row.top_override_reasons] == [None]  # only dismissals
    assert card.locator("[data-testid=dismiss]").is_disabled()


def two_cards_for_one_service(live_server: LiveServer) -> dict[str, Any]:
    """One answer holding the DVT cards of two real answers, both proposing the DVT clinic.
    The service merges equal referrals (clinical spec §8.2), so only an EHR showing cards of
    two answers (or another service) meets this; the console must still flag it."""
    cards: list[dict[str, Any]] = []
    with live_server.client() as client:
        for name in (DVT_SAMPLE, SIDE_UNKNOWN_DVT_SAMPLE):
            answer = client.post("/cds-services/calf-pain-triage", json=load_json(SAMPLES / name))
            assert answer.status_code == 200
            cards.extend(answer.json()["cards"])
    codes = [c["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0] for c in cards]
    assert len(cards) == 2
    assert codes[0] == codes[1]
    return {"cards": cards}


def test_two_cards_proposing_the_same_service_show_the_conflict(
    open_page: Opener, live_server: LiveServer
) -> None:
    watched = open_page(clock=True)
    answer = two_cards_for_one_service(live_server)
    console = open_console(watched, live_server)
    console.route(
        "**/cds-services/calf-pain-triage",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(answer)
        ),
    )
    show_sample(console, DVT_SAMPLE)
    first, second = console.locator("[data-testid=card]").all()

    assert "Referral to DVT clinic" in console.locator("[data-testid=conflicts]").inner_text()
    assert answer["cards"][1]["summary"] in first.locator("[data-testid=conflict]").inner_text()
    assert answer["cards"][0]["summary"] in second.locator("[data-testid=conflict]").inner_text()
    conflict = second.locator("[data-testid=conflict]")
    said_first = conflict.inner_text()
    first.locator("[data-testid=accept]").click()
    assert second.locator("[data-testid=accept]").is_disabled()
    assert "is being accepted on the card" in conflict.inner_text()
    first.locator("[data-testid=undo]").click()
    assert second.locator("[data-testid=accept]").is_enabled()
    assert conflict.inner_text() == said_first
    first.locator("[data-testid=accept]").click()
    console.clock.run_for(UNDO_MS)
    first.locator("[data-testid=feedback]").filter(has_text="feedback stored").wait_for()

    assert "was accepted on the card" in conflict.inner_text()
    assert second.locator("[data-testid=accept]").is_disabled()
    assert len(watched.feedback_posts) == 1


# --- no stale state ------------------------------------------------------------------------


def test_a_new_request_clears_the_cards_before_it_is_sent(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    show_sample(console, DVT_SAMPLE)
    held: list[Any] = []
    console.route("**/cds-services/calf-pain-triage", lambda route: held.append(route))

    console.click("[data-testid=send]")
    console.locator("[data-testid=status]").filter(has_text="Asking").wait_for()
    while not held:
        console.wait_for_timeout(20)

    assert console.locator("[data-testid=card]").count() == 0
    assert console.locator("[data-testid=evaluated-at]").is_hidden()
    assert console.locator("[data-testid=raw]").text_content() == ""
    held[0].continue_()
    console.locator("[data-testid=card]").first.wait_for()


def test_an_error_replaces_the_cards(page: Watched, live_server: LiveServer) -> None:
    console = open_console(page, live_server)
    show_sample(console, DVT_SAMPLE)

    paste(console, '{"hook": "patient-view", broken')
    console.click("[data-testid=send]")
    error = console.locator("[data-testid=error]")
    error.wait_for()

    assert error.inner_text().startswith("Not valid JSON")
    assert console.locator("[data-testid=card]").count() == 0
    assert console.locator("[data-testid=evaluated-at]").is_hidden()


def test_a_late_answer_never_replaces_a_newer_one(page: Watched, live_server: LiveServer) -> None:
    console = open_console(page, live_server)
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    console.route("**/cds-services/calf-pain-triage", hold_the_first)
    load_sample(console, DVT_SAMPLE)
    console.click("[data-testid=send]")
    while not held:
        console.wait_for_timeout(20)
    card = show_sample(console, NO_RED_FLAG_SAMPLE)
    held[0].continue_()
    console.wait_for_timeout(300)

    assert console.locator("[data-testid=card]").count() == 1
    assert "No red flags" in card.locator("[data-testid=card-summary]").inner_text()


# --- samples that stay true: the "as of" control --------------------------------------------


def test_as_of_is_filled_from_the_sample_and_changes_the_evaluation(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    load_sample(console, DVT_SAMPLE)
    as_of = console.locator("[data-testid=as-of]")
    assert as_of.input_value() == "2026-11-25T12:00"  # Chromium drops zero seconds
    sent: list[dict[str, Any]] = []
    console.on(
        "request",
        lambda request: (
            sent.append(request.post_data_json)
            if request.url.endswith("/cds-services/calf-pain-triage")
            else None
        ),
    )

    as_of.fill("2027-01-05T12:00:00")
    send_and_wait(console)

    assert sent[0]["extension"]["example.calf-cds"]["evaluationTime"] == "2027-01-05T12:00:00Z"
    assert console.locator("[data-testid=evaluated-at]").inner_text() == (
        "Evaluated as of 2027-01-05 12:00 UTC"
    )
    summaries = console.locator("[data-testid=card-summary]").all_inner_texts()
    assert not any("DVT" in summary for summary in summaries)  # 41 days on: out of window


def test_as_of_reaches_a_bundle_as_the_now_query(page: Watched, live_server: LiveServer) -> None:
    console = open_console(page, live_server)
    bundle = prefetch_as_bundle(load_json(SAMPLES / DVT_SAMPLE))
    paste(console, json.dumps(bundle))
    as_of = console.locator("[data-testid=as-of]")
    assert as_of.input_value() == ""  # a Bundle carries no reference time

    as_of.fill("2026-11-25T12:00:00")
    with console.expect_request("**/evaluate?*") as request:
        send_and_wait(console)

    assert request.value.url.endswith(
        "/evaluate?service=calf-pain-triage&lang=en&now=2026-11-25T12%3A00%3A00Z"
    )
    assert "DVT likely" in console.locator("[data-testid=card-summary]").first.inner_text()
    as_of.fill("2027-12-30T08:30:00")
    send_and_wait(console)
    assert console.locator("[data-testid=evaluated-at]").inner_text() == (
        "Evaluated as of 2027-12-30 08:30 UTC"
    )


# --- narrow screens, labels, contrast, glyphs, accessibility -------------------------------


@pytest.mark.parametrize("width", [360, 420])
def test_console_and_rules_fit_a_phone_without_horizontal_scrolling(
    open_page: Opener, live_server: LiveServer, width: int
) -> None:
    watched = open_page(width=width, height=800)
    console = open_console(watched, live_server)
    card = show_sample(console, DVT_SAMPLE)
    if width == 420:
        card.screenshot(path=str(SCREENSHOTS / "console-dvt-420.png"))
    open_every_disclosure(console)  # references, tester ids and the raw answer are long

    assert scroll_width(console) <= width
    console.goto(live_server.url + "/console/rules")
    assert scroll_width(console) <= width


# Computed in the page: WCAG relative luminance of each enabled control's border against the
# background behind it (filled buttons: their fill), and whether it has an accessible label.
CONTROL_AUDIT = """
nodes => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const behind = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const named = (node) => {
    if (node.getAttribute("aria-label") || node.getAttribute("aria-labelledby")) return true;
    if (node.tagName === "BUTTON") return node.textContent.trim() !== "";
    return Array.from(node.labels || []).some((label) => label.textContent.trim() !== "");
  };
  return nodes.filter((node) => !node.disabled && node.getClientRects().length).map((node) => {
    const part = node.type === "file" ? "::file-selector-button" : null;
    const style = getComputedStyle(node, part);
    const border = rgb(style.borderTopColor).slice(0, 3);
    return {
      control: node.dataset.testid || node.id || node.tagName,
      contrast: ratio(border, behind(node.parentElement)),
      labelled: named(node),
    };
  });
}
"""


def test_every_control_is_labelled_and_its_border_contrasts_3_to_1(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    show_sample(console, DVT_SAMPLE)

    audit = console.locator("input, select, textarea, button").evaluate_all(CONTROL_AUDIT)

    assert {"service", "sample", "upload", "as-of", "request-body", "accept"} <= {
        row["control"] for row in audit
    }
    assert [row["control"] for row in audit if not row["labelled"]] == []
    assert [
        (row["control"], round(row["contrast"], 2)) for row in audit if row["contrast"] < 3
    ] == []


def characters_without_a_font(text: str) -> list[str]:
    """Characters of `text` that no font on this machine has (fontconfig: what Chromium
    falls back through); such a character renders as an empty box."""
    unusual = sorted({char for char in text if ord(char) > 0x7E and not char.isspace()})
    missing = []
    for char in unusual:
        fonts = subprocess.run(
            ["fc-list", f":charset={ord(char):x}", "family"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if not fonts.strip():
            missing.append(f"U+{ord(char):04X}")
    return missing


def test_every_character_shown_has_a_glyph_in_the_machines_fonts(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    show_sample(console, DVT_SAMPLE)
    console.locator("[data-testid=accept]").click()  # the pending and undo texts too
    open_every_disclosure(console)
    shown = console.locator("body").inner_text()
    shown += "".join(console.locator("option").all_inner_texts())
    console.goto(live_server.url + "/console/rules")
    shown += console.locator("body").inner_text()

    assert "\u2192" in shown  # the card's own arrows are checked, not skipped
    assert characters_without_a_font(shown) == []


def test_axe_finds_no_serious_accessibility_violation_on_the_card(
    page: Watched, live_server: LiveServer
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    console = open_console(page, live_server)
    show_sample(console, DVT_SAMPLE)
    open_every_disclosure(console)

    results = Axe().run(console).response
    serious = [
        (violation["id"], [node["target"] for node in violation["nodes"]])
        for violation in results["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
    assert results["passes"] or results["violations"] is not None
    assert serious == []
    console.goto(live_server.url + "/console/rules")
    rules = Axe().run(console).response["violations"]
    assert [v["id"] for v in rules if v["impact"] in {"serious", "critical"}] == []


# --- input from anywhere is text -----------------------------------------------------------


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

    card = show_sample(console, INJECTION_SAMPLE)
    open_every_disclosure(console)

    echoed = INJECTION[:12]  # a unit as sent is cut to 12 characters
    assert echoed in card.locator("[data-testid=caveats]").inner_text()
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
    error = console.locator("[data-testid=error]")
    error.filter(has_text="HTTP 400").wait_for()

    assert "<img src=x onerror=alert(2)>" in error.inner_text()
    assert console.locator("img").count() == 0
    console.wait_for_timeout(300)
    assert page.dialogs == []
