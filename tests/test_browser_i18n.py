"""The console, the rules page and the red-flag check in Russian, in a real browser (issue 21):
Debian's Chromium driven by Playwright over real HTTP, as tests/test_browser_console.py.

The language switch reloads the page in the chosen language, the cards the console then asks
for come back in it, and a Russian page shows no English word beyond the codes and ids a
tester's disclosure holds and the documented allowlist of tests/test_i18n_http.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import test_browser_console
from conftest import LiveServer
from conftest_smart import DVT_SAMPLE as SMART_DVT_SAMPLE
from conftest_smart import SmartWorld
from test_browser_console import (
    DVT_SAMPLE,
    UNDO_MS,
    Opener,
    Watched,
    focus_by_tab,
    open_console,
    open_every_disclosure,
    send_and_wait,
)
from test_i18n_http import (
    _CITED_TITLES,
    _DOCUMENT_PART,
    _ELEMENT,
    _REFERENCE,
    ALLOWED_LATIN,
    CYRILLIC,
)

from cds.registry import SERVICES

pytestmark = pytest.mark.browser

# The console module's fixtures (its Chromium, pages and live server), used here as there.
browser = test_browser_console.browser
open_page = test_browser_console.open_page
page = test_browser_console.page
live_server = test_browser_console.live_server

# Latin words a Russian page may show besides the cards' allowlist: the product's and the
# standards' names, and notations Russian testers read as they are (docs/terminology.md).
UI_LATIN = {"calf-cds", "OpenAPI", "CDS", "Hooks", "JSON", "UTC", "HTTP"}
HOOKS = {service.hook for service in SERVICES.values()}
# What a page may show in Latin as it is: codes and ids (in <code>), the language switch's
# other languages (each named in itself, marked with its lang), the raw JSON answer, and sample
# file names (the <option>s whose text is their value).
VISIBLE_TEXT = """
root => {
  const copy = root.cloneNode(true);
  const drop = "code, pre, [lang]:not([lang='ru']), script, svg .bar-label, .tier, td.source";
  copy.querySelectorAll(drop).forEach((node) => node.remove());
  copy.querySelectorAll("option").forEach((node) => {
    if (node.value && node.textContent === node.value) node.remove();
  });
  copy.querySelectorAll("details").forEach((node) => { node.open = true; });
  document.body.append(copy);
  const text = copy.innerText;
  copy.remove();
  return text;
}
"""


def english_words(text: str) -> set[str]:
    """The Latin words of `text` that are neither codes nor on an allowlist."""
    for hook in HOOKS:
        text = text.replace(f"({hook})", " ")
    found = set()
    for line in text.splitlines():
        for pattern in (_REFERENCE, _ELEMENT, _CITED_TITLES, _DOCUMENT_PART):
            line = pattern.sub(" ", line)
        line = re.sub(r"\b[RF]-[A-Z0-9-]+", " ", line)  # rule and finding ids
        line = re.sub(r"(?<=код )[\w-]+", " ", line)  # a local code a rule names ("код …")
        # tier codes: "уровня E или U", "уровней E, U или R"
        line = re.sub(r"(уровн(?:я|ей) )[EURS](?:(?:, | или )[EURS])*\b", r"\1", line)
        line = re.sub(r"(?<!\S)/\S+", " ", line)  # an address the console asked (/evaluate?…)
        for word in re.findall(r"[A-Za-z][A-Za-z0-9'\-]*", line):
            if (
                word not in ALLOWED_LATIN | UI_LATIN
                and word.rstrip("0123456789") not in ALLOWED_LATIN
            ):
                found.add(word)
    return found


def visible_text(page: Any) -> str:
    return str(page.locator("body").evaluate(VISIBLE_TEXT))


LOADED = {"en": "Loaded {name}", "ru": "Загружено: {name}"}


def show_sample_in(page: Any, name: str, language: str) -> Any:
    """Load a sample, send it, and return the first card (the console speaking `language`)."""
    page.select_option("[data-testid=sample]", name)
    page.locator("[data-testid=status]").filter(
        has_text=LOADED[language].format(name=name)
    ).wait_for()
    send_and_wait(page)
    card = page.locator("[data-testid=card]").first
    card.wait_for()
    return card


def switch_to(page: Any, language: str) -> None:
    """Follow the language switch by keyboard (Tab to it, Enter), as a tester without a mouse."""
    focus_by_tab(page, f"language-{language}")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"html[lang='{language}'][data-console-ready='true']")


# --- the console -------------------------------------------------------------------------------


def test_the_switch_turns_the_console_and_its_cards_russian_and_back(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    sent: list[dict[str, Any]] = []
    console.on(
        "request",
        lambda request: (
            sent.append(request.post_data_json)
            if request.url.endswith("/cds-services/calf-pain-triage")
            else None
        ),
    )
    assert console.locator("html").get_attribute("lang") == "en"

    switch_to(console, "ru")

    assert console.locator("[data-testid=send]").inner_text() == "Получить карточки"
    assert console.locator("#cards-heading").inner_text() == "Карточки"
    assert console.locator("[data-testid=language-ru]").get_attribute("aria-current") == "true"
    card = show_sample_in(console, DVT_SAMPLE, "ru")
    summary = card.locator("[data-testid=card-summary]").inner_text()
    assert summary.startswith("ТГВ вероятен (Уэллс 2)")
    assert sent[-1]["extension"]["example.calf-cds"]["language"] == "ru"
    answer = json.loads(console.locator("[data-testid=raw]").text_content() or "{}")
    assert answer["cards"][0]["extension"]["example.calf-cds"]["language"] == "ru"
    assert card.locator(".card-indicator").text_content() == "Предупреждение"
    # (text_content: the stylesheet shows section titles in capitals)
    assert card.locator("[data-testid=next-steps] h4").text_content() == "Что делать"
    assert card.locator("[data-testid=safety-net] h4").text_content() == "Когда обратиться срочно"
    assert card.locator("[data-testid=proposal-order]").inner_text() == (
        "Направление в центр ТГВ, приоритет: срочный, исполнитель: Флебология"
    )
    assert console.locator("[data-testid=evaluated-at]").inner_text() == (
        "Оценка на 25.11.2026, 12:00 UTC"
    )
    assert "Боль в икре, слева, 25.11.2026" in card.locator("[data-testid=evidence]").inner_text()
    assert console.locator("[data-testid=status]").inner_text().startswith("1 карточка от ")

    switch_to(console, "en")

    # The sample and its cards stay: the cards are asked for again, in English.
    assert console.locator("[data-testid=send]").inner_text() == "Get cards"
    assert console.locator("[data-testid=sample]").input_value() == DVT_SAMPLE
    summary = console.locator("[data-testid=card] [data-testid=card-summary]").first
    summary.filter(has_text="DVT likely").wait_for()
    assert sent[-1]["extension"]["example.calf-cds"]["language"] == "en"
    assert page.console_errors == []


def test_a_russian_bundle_goes_to_evaluate_with_lang(
    page: Watched, live_server: LiveServer
) -> None:
    console = open_console(page, live_server)
    switch_to(console, "ru")
    bundle = test_browser_console.prefetch_as_bundle(
        test_browser_console.load_json(test_browser_console.SAMPLES / DVT_SAMPLE)
    )
    test_browser_console.paste(console, json.dumps(bundle))

    with console.expect_request("**/evaluate?*") as request:
        send_and_wait(console)

    assert "&lang=ru" in request.value.url
    summary = console.locator("[data-testid=card-summary]").first.inner_text()
    assert CYRILLIC.search(summary)


def test_the_russian_console_shows_no_english_beyond_codes_and_ids(
    open_page: Opener, live_server: LiveServer
) -> None:
    watched = open_page(clock=True)
    console = watched.page
    console.goto(live_server.url + "/?lang=ru")
    console.wait_for_selector("html[data-console-ready='true']")
    card = show_sample_in(console, DVT_SAMPLE, "ru")
    card.locator("[data-testid=accept]").click()  # the pending accept and its undo texts too
    open_every_disclosure(console)
    shown = visible_text(console)
    console.clock.run_for(UNDO_MS)
    card.locator("[data-testid=feedback]").filter(has_text="обратная связь сохранена").wait_for()
    shown += visible_text(console)

    assert "Сведения для тестировщиков" in shown
    assert "Причина отклонения" in shown
    assert english_words(shown) == set()
    assert watched.console_errors == []


def test_the_rules_page_in_russian(page: Watched, live_server: LiveServer) -> None:
    console = page.page
    console.goto(live_server.url + "/console/rules?lang=ru")

    assert console.locator("html").get_attribute("lang") == "ru"
    assert console.locator("h1").inner_text() == "Правила · calf-cds 2026.2"
    row = console.locator("tr[data-rule='R-DVT-PATHWAY']")
    assert "Маршрут тромбоза глубоких вен" in row.inner_text()
    assert row.locator("[data-testid=criteria]").inner_text().startswith("Срабатывает, когда: ")
    assert english_words(visible_text(console)) == set()
    console.locator("[data-testid=language-en]").click()
    console.wait_for_selector("html[lang='en']")
    assert console.locator("h1").inner_text() == "Rules · calf-cds 2026.2"


# --- the red-flag check app --------------------------------------------------------------------


def test_the_red_flag_check_opens_from_a_russian_card_in_russian(
    smart_world: SmartWorld, open_page: Opener
) -> None:
    console = open_page().page
    console.goto(smart_world.url + "/?lang=ru")
    console.wait_for_selector("html[data-console-ready='true']")
    console.select_option("[data-testid=sample]", SMART_DVT_SAMPLE)
    console.locator("[data-testid=status]").filter(has_text="Загружено").wait_for()
    console.click("[data-testid=send]")
    link = console.locator("[data-testid=card]").first.locator("[data-testid=smart-link] a")
    assert link.inner_text() == "Завершить проверку красных флагов"

    with console.context.expect_page() as opened:
        link.click()
    app = Watched(opened.value)
    form = app.page
    form.wait_for_selector("[data-testid=check-form]")

    assert form.locator("html").get_attribute("lang") == "ru"
    assert form.locator("[data-testid=save]").inner_text() == "Сохранить в карту"
    assert form.locator("label.option").first.inner_text().strip() == "Есть"
    headings = form.locator("section.section h2").all_inner_texts()
    assert headings
    assert all(CYRILLIC.search(heading) for heading in headings)
    banner_name = form.locator("[data-testid=patient-name]").inner_text()  # the EHR's own text
    assert english_words(visible_text(form).replace(banner_name, " ")) == set()

    form.locator("[data-testid=save]").click()  # nothing examined yet: nothing to write

    note = form.locator("[data-testid=note]")
    assert note.inner_text() == (
        "Нечего сохранять: каждый ответ уже записан в карте или не обследован."
    )
    assert app.console_errors == []
    assert app.dialogs == []
