"""The console, the rules pages and the red-flag check app in the request's language (issue 21),
over HTTP: the script's words come from the page, the tables they are drawn from stay complete,
`GET /rules` and the pages follow `lang` and `Accept-Language`, and the app speaks the language
of the card that launched it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import REPO, SAMPLES, load_json
from conftest_smart import BROWSER_ACCEPT, DVT_SAMPLE, SmartWorld, sample_patient, smart_link
from test_console import _issue_and_decide

from cds.core.routes import PROFILES
from cds.http.console_text import MESSAGES, ORDER_DISPLAYS, SERVICE_TITLES, console_messages
from cds.registry import SERVICES
from cds.smart.oauth import app_context

CYRILLIC = re.compile("[\u0400-\u04ff]")
SCRIPT = (REPO / "cds" / "static" / "console.js").read_text(encoding="utf-8")


def _embedded(html: str, element_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert found is not None, element_id
    return json.loads(found.group(1))


def _html_lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    assert found is not None
    return found.group(1)


# --- the script's words -----------------------------------------------------------------------


def test_every_key_the_script_asks_for_is_in_the_message_table() -> None:
    plain = set(re.findall(r'\bt\("([A-Za-z.]+)"', SCRIPT))
    plural = set(re.findall(r'\btn\("([A-Za-z.]+)"', SCRIPT))
    parts = set(re.findall(r'\btParts\("([A-Za-z.]+)"', SCRIPT))
    # Keys the script builds from a code ("indicator." + kind) are listed with its codes.
    built = {
        prefix: re.findall(r'"([a-z]+)"', _js_array(name))
        for prefix, name in {
            "indicator.": "INDICATORS",
            "wells.": "WELLS_CLASSIFICATIONS",
            "order.priority.": "PRIORITIES",
            "side.": "SIDES",
        }.items()
    }

    assert len(plain) > 50
    assert plural == {"request.cards", "evidence.more", "action.undoDelay"}
    assert {key for key in plain | parts if key.endswith(".")} == set(built)
    asked = {key for key in plain | parts if not key.endswith(".")}
    asked |= {prefix + code for prefix, codes in built.items() for code in codes}
    assert asked - set(MESSAGES) == set()
    assert plural - set(console_messages("en")["plurals"]) == set()


def _js_array(name: str) -> str:
    found = re.search(rf"const {name} = \[([^\]]*)\];", SCRIPT)
    assert found is not None, name
    return found.group(1)


def test_every_message_of_the_table_is_used_by_the_script() -> None:
    # Keys built in the script ("indicator." + kind) are used through their prefix.
    unused = [
        key
        for key in MESSAGES
        if f'"{key}"' not in SCRIPT and f'"{key.rsplit(".", 1)[0]}."' not in SCRIPT
    ]
    assert unused == []


def test_every_code_a_route_may_order_has_its_display_in_the_table() -> None:
    displays = {
        code.display
        for table in PROFILES.values()
        for route in table.values()
        for code in (route.code, route.performer, route.category if route.code else None)
        if code is not None
    }
    assert displays == set(ORDER_DISPLAYS)


def test_every_service_title_is_in_the_table() -> None:
    assert {service.title for service in SERVICES.values()} == set(SERVICE_TITLES)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        pytest.param(
            "en", {"one": "{n} card from {url}", "other": "{n} cards from {url}"}, id="en"
        ),
        pytest.param(
            "ru",
            {
                "one": "{n} карточка от {url}",
                "few": "{n} карточки от {url}",
                "many": "{n} карточек от {url}",
            },
            id="ru",
        ),
    ],
)
def test_plural_forms_are_given_per_cldr_category(language: str, expected: dict[str, str]) -> None:
    assert console_messages(language)["plurals"]["request.cards"] == expected


def test_the_russian_table_is_translated_and_keeps_english_dates_iso() -> None:
    english, russian = console_messages("en"), console_messages("ru")

    same = [key for key, text in russian["messages"].items() if text == english["messages"][key]]
    # Only texts that are codes or punctuation stay as they are.
    assert sorted(same) == ["feedback.result", "http.status"]
    assert russian["displays"]["Referral to DVT clinic"] == "Направление в центр ТГВ"
    assert (english["isoDates"], russian["isoDates"]) == (True, False)


# --- the pages --------------------------------------------------------------------------------


def test_the_console_page_speaks_the_language_it_is_asked_for(client: Any) -> None:
    russian = client.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9"}).get_data(as_text=True)
    english = client.get("/?lang=en", headers={"Accept-Language": "ru"}).get_data(as_text=True)

    assert _html_lang(russian) == "ru"
    assert ">Получить карточки</button>" in russian
    assert _embedded(russian, "console-messages")["messages"]["action.accept"] == "Принять"
    assert _embedded(russian, "finding-labels")["F-CALF-PAIN"] == "Боль в икре"
    assert _html_lang(english) == "en"
    assert ">Get cards</button>" in english
    assert _embedded(english, "console-messages")["messages"]["action.accept"] == "Accept"


def test_the_language_switch_links_each_language_named_in_itself(client: Any) -> None:
    html = client.get("/console/rules?lang=ru").get_data(as_text=True)

    switch = re.search(r'<nav class="languages"(.*?)</nav>', html, re.S)
    assert switch is not None
    links = re.findall(
        r'<a href="([^"]+)" lang="([a-z]+)"[^>]*?(aria-current="true")?>([^<]+)</a>',
        switch.group(1).replace("\n", " "),
    )
    assert [(href, lang, bool(current), name) for href, lang, current, name in links] == [
        ("/console/rules?lang=en", "en", False, "English"),
        ("/console/rules?lang=ru", "ru", True, "Русский"),
    ]
    # The other pages keep the language chosen.
    assert 'href="/?lang=ru"' in html


def test_a_malformed_lang_on_a_page_is_ignored_not_refused(client: Any) -> None:
    response = client.get("/?lang=ru!", headers={"Accept-Language": "ru"})

    assert response.status_code == 200
    assert _html_lang(response.get_data(as_text=True)) == "ru"


def test_the_rules_page_in_russian_labels_its_table_and_chart(client: Any) -> None:
    _issue_and_decide(client, "accepted")
    _issue_and_decide(client, "overridden")

    html = client.get("/console/rules", headers={"Accept-Language": "ru"}).get_data(as_text=True)

    assert _html_lang(html) == "ru"
    assert "Правила &middot; calf-cds 2026.2" in html
    row = re.search(r'<tr data-rule="R-DVT-PATHWAY">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "Маршрут тромбоза глубоких вен" in row.group(1)
    assert "Срабатывает, когда: " in row.group(1)
    assert re.findall(r'data-label="([^"]+)"', row.group(1)) == [
        "Уровень",
        "Маршрут",
        "Источник",
        "Выдано",
        "Принято",
        "Отклонено",
        "Доля отклонений",
    ]
    assert row.group(1).rstrip().endswith('data-label="Доля отклонений">50\u00a0%</td>')
    assert "50\u00a0% (1 из 2)" in html


def test_rule_criteria_in_russian_write_decimals_and_uln_in_russian(client: Any) -> None:
    html = client.get("/console/rules?lang=ru").get_data(as_text=True)

    assert "≤ 0,9" in html
    assert "× ВГН" in html
    assert "0.9" not in html
    assert "ULN" not in html


def test_get_rules_answers_in_the_asked_language_with_the_same_ids_and_codes(
    client: Any,
) -> None:
    english = client.get("/rules")
    russian = client.get("/rules", headers={"Accept-Language": "ru"})

    assert (english.headers["Content-Language"], russian.headers["Content-Language"]) == (
        "en",
        "ru",
    )
    by_id = {rule["id"]: rule for rule in russian.get_json()["rules"]}
    assert by_id["R-DVT-PATHWAY"]["name"] == "Маршрут тромбоза глубоких вен"
    assert CYRILLIC.search(by_id["R-DVT-PATHWAY"]["criteria"])

    def codes(document: dict[str, Any]) -> list[Any]:
        # A published source keeps its title and page; a local policy (no page) is translated.
        return [
            (r["id"], r["tier"], r["routes"], r["codes"], r["source"].get("url") or "local")
            for r in document["rules"]
        ]

    assert codes(russian.get_json()) == codes(english.get_json())
    published = {r["id"]: r["source"] for r in english.get_json()["rules"] if "url" in r["source"]}
    assert {i: by_id[i]["source"] for i in published} == published
    assert by_id["R-NO-RED-FLAG-DATA"]["source"] == {"label": "собственные правила calf-cds"}


# --- the red-flag check app -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "language"),
    [
        pytest.param('{"findings": [], "language": "ru"}', "ru", id="ru"),
        pytest.param('{"findings": [], "language": "ru-RU"}', "ru", id="region"),
        pytest.param('{"findings": [], "language": "de"}', None, id="not-spoken"),
        pytest.param('{"findings": [], "language": 42}', None, id="not-a-tag"),
    ],
)
def test_the_app_context_keeps_a_language_the_service_speaks(
    raw: str, language: str | None
) -> None:
    context = app_context(raw)
    assert context is not None
    assert context.get("language") == language


@pytest.fixture
def russian_browser() -> Iterator[httpx.Client]:
    """A browser whose own preference is English: the card's language must win."""
    headers = {"Accept": BROWSER_ACCEPT, "Accept-Language": "en"}
    with httpx.Client(follow_redirects=True, timeout=20, headers=headers) as client:
        yield client


def _russian_card(world: SmartWorld) -> dict[str, Any]:
    body = load_json(SAMPLES / DVT_SAMPLE)
    answer = httpx.post(
        f"{world.url}/cds-services/calf-pain-triage",
        json=body,
        headers={"Accept-Language": "ru"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    card: dict[str, Any] = answer.json()["cards"][0]
    return card


def test_the_card_launches_the_app_in_its_own_language(
    smart_world: SmartWorld, russian_browser: httpx.Client
) -> None:
    link = smart_link(_russian_card(smart_world))
    assert json.loads(link["appContext"])["language"] == "ru"
    assert link["label"] == "Завершить проверку красных флагов"

    form = smart_world.launch(russian_browser, sample_patient(), link["appContext"])

    assert form.status_code == 200
    assert str(form.url).endswith("/smart/form")
    assert _html_lang(form.text) == "ru"
    assert ">Сохранить в карту</button>" in form.text
    assert "Записано без стороны: есть, 25.11.2026" in form.text
    assert "обследовано</label>" in form.text  # the "not examined" answer
    assert "Дата рождения: " in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    fever = re.search(r'data-row="F-FEVER">\s*<p class="row-label"[^>]*>([^<]+)</p>', form.text)
    assert csrf is not None
    assert fever is not None
    assert CYRILLIC.search(fever.group(1))

    answers = {"csrf": csrf.group(1), "F-FEVER": "maybe"}
    refused = russian_browser.post(f"{smart_world.url}/smart/form", data=answers)
    assert refused.status_code == 400
    assert "Некоторые ответы не распознаны: F-FEVER" in refused.text

    answers = {"csrf": csrf.group(1), "F-FEVER": "absent"}
    result = russian_browser.post(f"{smart_world.url}/smart/form", data=answers)
    assert str(result.url).endswith("/smart/result")
    assert _html_lang(result.text) == "ru"
    assert "Сохранено в карте" in result.text
    assert f"{fever.group(1)}: нет" in result.text
    summary = re.search(r'data-testid="card-summary">([^<]+)<', result.text)
    assert summary is not None
    assert CYRILLIC.search(summary.group(1))
    assert "Уэллс " in result.text


def test_a_lang_parameter_shows_an_error_page_in_russian(
    smart_world: SmartWorld, russian_browser: httpx.Client
) -> None:
    page = russian_browser.get(
        f"{smart_world.url}/smart/launch?iss={smart_world.fhir_base}&lang=ru"
    )
    api = httpx.get(
        f"{smart_world.url}/smart/launch",
        params={"iss": smart_world.fhir_base},
        headers={"Accept": "application/json", "Accept-Language": "ru"},
    )

    assert page.status_code == 400
    assert _html_lang(page.text) == "ru"
    # "\u0412" is the Cyrillic capital Ve (ruff takes a one-letter word for a Latin B)
    message = "\u0412 запуске нет параметра `launch`: откройте приложение из МИС."
    assert "Этот запуск принять нельзя" in page.text
    assert message in page.text
    assert api.status_code == 400
    assert api.json()["issue"][0] == {
        "severity": "error",
        "code": "invalid",
        "diagnostics": "Этот запуск принять нельзя: " + message,
    }


def test_the_pages_latin_allowlist_is_documented_in_the_glossary() -> None:
    from test_browser_i18n import UI_LATIN

    glossary = (REPO / "docs" / "terminology.md").read_text(encoding="utf-8")
    assert [word for word in sorted(UI_LATIN) if f"`{word}`" not in glossary] == []
