"""Cards in English and Russian over real HTTP (issue 21): every sample gives the same clinical
answer in both languages, summaries stay under 140 characters, Russian cards hold no English
beyond the documented allowlist (docs/terminology.md), three reviewed renderings per language,
and the language is chosen by the request extension, `lang`, `Accept-Language`, CDS_LANGUAGE.

Regenerate the renderings after a reviewed wording change: CDS_UPDATE_GOLDEN=1 pytest this file.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, SAMPLE_CLOCK, SAMPLES, load_json, prefetch_as_bundle, serving
from flask import render_template_string

from cds import create_app
from cds.cli import main
from cds.core.rules import RULES

GOLDEN_DIR = REPO / "tests" / "golden"
GOLDEN_SAMPLES = [
    "dvt-unilateral-swelling-wells-likely",
    "cauda-equina-saddle-anaesthesia-urinary-retention",
    "rest-post-exercise-calf-soreness",
]
SERVICE_FOR_HOOK = {
    "patient-view": "calf-pain-triage",
    "encounter-start": "calf-pain-triage-encounter",
}
DVT_SAMPLE = "dvt-unilateral-swelling-wells-likely"
LANGUAGE_FIELD = "extension.example.calf-cds.language"
CYRILLIC = re.compile("[\u0400-\u04ff]")
# Latin words a Russian card may hold (docs/terminology.md, "Left in Latin script"): the cited
# sources' names and codes, FHIR and CDS Hooks names, and notations Russian clinicians use.
ALLOWED_LATIN = {
    # sources and their codes
    "NICE", "NG", "CG", "CKS", "ESVS", "EULAR", "ACR", "AAN", "BOAST", "BSH", "EAS", "GIRFT",
    "RCOG", "GTG", "GVG", "ACC", "AHA", "Cheung",
    # notations: D-dimer basis, oxygen saturation
    "FEU", "DDU", "SpO2",
    # FHIR and CDS Hooks names: the prefetch keys and Bundle elements a data-quality line names
    "FHIR", "Bundle", "Prefetch", "prefetch", "patient", "conditions", "observations", "entry",
    # the product's name: the rule set version on the source line, its own rules
    "calf-cds",
}  # fmt: skip
# A published source's own title stays as published on the "Источник:" line ("GIRFT 2023
# suspected cauda equina syndrome pathway"); a source without a page (the service's own or a
# local policy) is the service's text and is translated like any other.
PUBLISHED_TITLES = sorted(
    {
        source.label
        for rule in RULES
        for source in (rule.source, *(v.source for v in rule.variants if v.source))
        if source.url
    },
    key=len,
    reverse=True,
)
_REFERENCE = re.compile(r"\b[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+")  # Observation/abc-1
_ELEMENT = re.compile(r"(?<=: )[a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*)*(?= )")  # valueQuantity.value
_CITED_TITLES = re.compile(r"CKS [a-z ]+")  # "CKS leg cramps": a source's title
_DOCUMENT_PART = re.compile(r"\b\d+[a-z]\b")  # "RCOG GTG 37b"
# A value with a unit the service does not accept for it, shown as the EHR sent it (the
# D-dimer of units-d-dimer-not-interpretable-blocks-rest.json in U/L).
_SENT_UNIT = re.compile(r"\b\d[\d.,]* U/L\b")


def sample_names() -> list[str]:
    return sorted(path.stem for path in SAMPLES.glob("*.json"))


def _post(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(
        f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body, headers=headers
    )


def _with_language(body: dict[str, Any], language: object) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body.setdefault("extension", {}).setdefault("example.calf-cds", {})["language"] = language
    return body


def _app(tmp: Path, **settings: Any) -> Any:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp / 'calf-cds.sqlite3'}",
            "evaluation_time": SAMPLE_CLOCK,
            "auth_mode": "off",
            **settings,
        }
    )
    app.extensions["calf-cds"].store.upgrade()
    return app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    app = _app(tmp_path_factory.mktemp("i18n"))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http
    app.extensions["calf-cds"].store.close()


@pytest.fixture(scope="module")
def answers(client: httpx.Client) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every sample's cards, asked for in English and in Russian by Accept-Language."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in sample_names():
        body = load_json(SAMPLES / f"{name}.json")
        found[name] = {}
        for language in ("en", "ru"):
            response = _post(client, body, **{"Accept-Language": language})
            assert response.status_code == 200, (name, language, response.text)
            found[name][language] = response.json()["cards"]
    return found


def _clinical_answer(card: dict[str, Any]) -> dict[str, Any]:
    """What must not change with the language: rule, tier, variant, codes, suggestions."""
    ext = card["extension"]["example.calf-cds"]
    actions = [
        {
            key: value
            for key, value in action["resource"].items()
            if key not in {"id", "text", "note"}
        }
        for suggestion in card.get("suggestions", [])
        for action in suggestion.get("actions", [])
    ]
    return {
        "indicator": card["indicator"],
        "rule": card["source"].get("topic"),
        "ids": [ext.get(k) for k in ("ruleId", "tier", "route", "variant", "coveredBy")],
        "missing": ext.get("missingItems"),
        "evidence": [(e["finding"], e["reference"]) for e in ext.get("evidence", [])],
        "actions": actions,
        "overrides": [reason["code"] for reason in card.get("overrideReasons", [])],
    }


def _card_text(card: dict[str, Any]) -> str:
    parts = [card["summary"], card.get("detail", "")]
    parts += [suggestion["label"] for suggestion in card.get("suggestions", [])]
    parts += [reason["display"] for reason in card.get("overrideReasons", [])]
    return "\n".join(parts)


@pytest.mark.parametrize("name", sample_names())
def test_every_sample_gives_the_same_rules_and_suggestions_in_both_languages(
    answers: dict[str, dict[str, list[dict[str, Any]]]], name: str
) -> None:
    english, russian = answers[name]["en"], answers[name]["ru"]
    assert [_clinical_answer(card) for card in russian] == [
        _clinical_answer(card) for card in english
    ]
    assert {card["extension"]["example.calf-cds"].get("language") for card in english} <= {"en"}
    assert {card["extension"]["example.calf-cds"].get("language") for card in russian} <= {"ru"}


def test_every_summary_stays_under_140_characters_in_both_languages(
    answers: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:
    too_long = [
        (name, language, card["summary"])
        for name, by_language in answers.items()
        for language, cards in by_language.items()
        for card in cards
        if len(card["summary"]) >= 140 or card["summary"].endswith("…")
    ]
    assert too_long == []


def test_russian_cards_hold_no_english_words_beyond_the_allowlist(
    answers: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:
    found: dict[str, set[str]] = {}
    for name, by_language in answers.items():
        for card in by_language["ru"]:
            assert CYRILLIC.search(card["summary"]), (name, card["summary"])
            for line in _card_text(card).splitlines():
                if line.startswith("Источник: "):
                    for title in PUBLISHED_TITLES:
                        line = line.replace(title, " ")
                for pattern in (_REFERENCE, _ELEMENT, _CITED_TITLES, _DOCUMENT_PART, _SENT_UNIT):
                    line = pattern.sub(" ", line)
                line = line.replace("°C", " ").replace("°F", " ")
                for word in re.findall(r"[A-Za-z][A-Za-z0-9'\-]*", line):
                    if word not in ALLOWED_LATIN and word.rstrip("0123456789") not in ALLOWED_LATIN:
                        found.setdefault(word, set()).add(name)
    assert found == {}


def test_the_allowlist_is_documented_in_the_glossary() -> None:
    glossary = (REPO / "docs" / "terminology.md").read_text(encoding="utf-8")
    assert [word for word in sorted(ALLOWED_LATIN) if f"`{word}`" not in glossary] == []


def _rendering(cards: list[dict[str, Any]]) -> str:
    blocks = []
    for card in cards:
        ext = card["extension"]["example.calf-cds"]
        lines = [f"## {ext.get('ruleId') or 'data quality'} ({card['indicator']})", ""]
        lines += [f"**{card['summary']}**", "", card.get("detail", ""), ""]
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                resource = action["resource"]
                code = resource["code"]["coding"][0]["code"]
                lines.append(f"Suggestion: {suggestion['label']} [{code}, {resource['priority']}]")
        reasons = "; ".join(reason["display"] for reason in card.get("overrideReasons", []))
        lines += [f"Override reasons: {reasons}", ""]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("name", GOLDEN_SAMPLES)
def test_reviewed_renderings_of_three_cards(
    answers: dict[str, dict[str, list[dict[str, Any]]]], name: str, language: str
) -> None:
    path = GOLDEN_DIR / language / f"{name}.md"
    rendered = f"# {name} ({language})\n\n" + _rendering(answers[name][language])
    if os.environ.get("CDS_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


# --- choosing the language ------------------------------------------------------------------


def _dvt_card(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert len(cards) == 1
    card: dict[str, Any] = cards[0]
    return card


def _assert_dvt_card_in(card: dict[str, Any], language: str) -> None:
    ext = card["extension"]["example.calf-cds"]
    assert ext["ruleId"] == "R-DVT-PATHWAY"
    assert ext["language"] == language
    (action,) = card["suggestions"][0]["actions"]
    assert action["resource"]["code"]["coding"][0]["code"] == "431883007"
    assert action["resource"]["priority"] == "urgent"
    assert bool(CYRILLIC.search(card["summary"])) is (language == "ru")


def test_accept_language_ru_answers_the_dvt_sample_in_russian(client: httpx.Client) -> None:
    body = load_json(SAMPLES / f"{DVT_SAMPLE}.json")
    card = _dvt_card(_post(client, body, **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}))
    _assert_dvt_card_in(card, "ru")
    assert card["summary"].startswith("ТГВ вероятен (Уэллс 2): УЗИ проксимальных вен ног")
    assert card["suggestions"][0]["label"].startswith("Проект направления: флеболог")


def test_without_a_preference_the_card_is_in_the_deployment_language(
    client: httpx.Client,
) -> None:
    body = load_json(SAMPLES / f"{DVT_SAMPLE}.json")
    _assert_dvt_card_in(_dvt_card(_post(client, body)), "en")
    _assert_dvt_card_in(_dvt_card(_post(client, body, **{"Accept-Language": "de, fr"})), "en")


def test_the_request_extension_wins_over_accept_language(client: httpx.Client) -> None:
    body = _with_language(load_json(SAMPLES / f"{DVT_SAMPLE}.json"), "ru")
    _assert_dvt_card_in(_dvt_card(_post(client, body, **{"Accept-Language": "en"})), "ru")
    body = _with_language(body, "en-GB")
    _assert_dvt_card_in(_dvt_card(_post(client, body, **{"Accept-Language": "ru"})), "en")


def test_a_language_the_service_does_not_speak_falls_back_to_cds_language(
    tmp_path: Path,
) -> None:
    body = _with_language(load_json(SAMPLES / f"{DVT_SAMPLE}.json"), "de")
    app = _app(tmp_path, language="ru")
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        _assert_dvt_card_in(_dvt_card(_post(http, body, **{"Accept-Language": "fr"})), "ru")
    app.extensions["calf-cds"].store.close()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(42, id="number"),
        pytest.param("русский", id="not-a-tag"),
        pytest.param("", id="empty"),
    ],
)
def test_a_malformed_language_extension_is_400_naming_the_field(
    client: httpx.Client, value: object
) -> None:
    body = _with_language(load_json(SAMPLES / f"{DVT_SAMPLE}.json"), value)
    response = _post(client, body)
    assert response.status_code == 400
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": f"{LANGUAGE_FIELD}: must be a language tag such as ru or en-GB",
            }
        ],
    }


def test_diagnostics_are_translated_and_issue_codes_are_not(client: httpx.Client) -> None:
    body = _with_language(load_json(SAMPLES / f"{DVT_SAMPLE}.json"), 42)
    response = _post(client, body, **{"Accept-Language": "ru"})
    assert response.status_code == 400
    (issue,) = response.json()["issue"]
    assert issue["code"] == "invalid"
    assert issue["diagnostics"] == (
        f"{LANGUAGE_FIELD}: должен быть языковой тег, например ru или en-GB"
    )
    response = client.get("/no-such-page", headers={"Accept-Language": "ru"})
    assert response.status_code == 404
    assert response.json()["issue"] == [
        {
            "severity": "error",
            "code": "not-found",
            "diagnostics": "такого адреса нет; см. GET /cds-services",
        }
    ]


def test_evaluate_takes_the_language_from_the_lang_parameter(client: httpx.Client) -> None:
    bundle = prefetch_as_bundle(load_json(SAMPLES / f"{DVT_SAMPLE}.json"))
    response = client.post("/evaluate", params={"lang": "ru"}, json=bundle)
    _assert_dvt_card_in(_dvt_card(response), "ru")
    response = client.post("/evaluate", params={"lang": "ru!"}, json=bundle)
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == (
        "lang: must be a language tag such as ru or en-GB"
    )


def test_templates_translate_with_the_request_language(tmp_path: Path) -> None:
    """Flask-Babel is ready for the console and rules pages: `_()` follows the same choice."""
    app = _app(tmp_path)
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        template = (
            "{{ current_language() }} {{ _('Why') }}: {{ ngettext('{n} item', '{n} items', 5) }}"
        )
        assert render_template_string(template) == "ru Почему: {n} пунктов"
    with app.test_request_context("/?lang=en", headers={"Accept-Language": "ru"}):
        assert render_template_string("{{ current_language() }} {{ _('Why') }}") == "en Why"
    app.extensions["calf-cds"].store.close()


def test_cli_evaluate_and_rules_print_russian_with_lang(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(name)
    sample = str(SAMPLES / f"{DVT_SAMPLE}.json")
    assert main(["evaluate", sample, "--now", SAMPLE_CLOCK, "--lang", "ru", "--json"]) == 0
    (card,) = json.loads(capsys.readouterr().out)["cards"]
    _assert_dvt_card_in(card, "ru")
    monkeypatch.setenv("COLUMNS", "300")  # the table wraps long names at rich's 80 columns
    assert main(["rules", "--lang", "ru"]) == 0
    assert "Маршрут тромбоза глубоких вен" in capsys.readouterr().out


def test_russian_card_text_keeps_russian_agreement_and_punctuation(
    answers: dict[str, dict[str, list[dict[str, Any]]]],
) -> None:
    """PAD's abbreviation (заболевания артерий нижних конечностей) is plural; no dash before a
    predicate negated with "не", so a data-quality line without an element reads "entry 2: не"."""
    (pad,) = answers["pad-abi-exactly-0-90"]["ru"]
    pad_ru = "\u0417\u0410\u041d\u041a"  # the abbreviation (ruff takes its capitals for Latin)
    assert pad["summary"].startswith(f"Вероятны {pad_ru} (ЛПИ 0,90): ")
    quality = answers["malformed-neighbours-red-flag-still-fires"]["ru"][-1]["detail"]
    assert "- observations entry 2: не является записью Bundle\n" in quality
    assert "- Observation/hr-unreadable: valueQuantity.value не является числом\n" in quality
    assert ": —" not in quality


def test_cli_heading_writes_the_evaluation_time_in_the_russian_format(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(name)
    sample = str(SAMPLES / f"{DVT_SAMPLE}.json")
    assert main(["evaluate", sample, "--now", "2026-11-25T15:00:00+03:00", "--lang", "ru"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "1 карточка, оценка на 25.11.2026 12:00 UTC"
    assert main(["evaluate", sample, "--now", SAMPLE_CLOCK]) == 0
    assert (
        capsys.readouterr().out.splitlines()[0] == "1 card, evaluated as of 2026-11-25T12:00+00:00"
    )


def test_answers_say_they_vary_by_accept_language(client: httpx.Client) -> None:
    """The language follows Accept-Language, so a cache must key on it (RFC 9110 §12.5.5)."""
    body = load_json(SAMPLES / f"{DVT_SAMPLE}.json")
    for response in (
        _post(client, body, **{"Accept-Language": "ru"}),
        client.get("/rules", headers={"Accept-Language": "ru"}),
        client.get("/", headers={"Accept-Language": "ru"}),
        client.get("/no-such-page"),
    ):
        vary = {v.strip().lower() for v in response.headers["Vary"].split(",")}
        assert {"accept-language", "origin"} <= vary, (response.url, vary)


# --- error texts: OperationOutcome diagnostics in the request's language ---------------------

BODY_LIMIT = 1024
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
JSON_TYPE = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def errors_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A test client with a small body limit, so a 413 costs 1 KiB."""
    app = _app(tmp_path_factory.mktemp("i18n-errors"), max_body_bytes=BODY_LIMIT)
    yield app.test_client()
    app.extensions["calf-cds"].store.close()


def _without_prefetch() -> dict[str, Any]:
    body = load_json(SAMPLES / f"{DVT_SAMPLE}.json")
    body.pop("prefetch", None)
    body.pop("fhirServer", None)
    body.pop("fhirAuthorization", None)
    return body


# id -> (method, path, request keywords, status, issue code, data kept as sent in both languages)
ERRORS: dict[str, tuple[str, str, dict[str, Any], int, str, str]] = {
    "malformed-json": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"data": b"{not json", "headers": JSON_TYPE},
        400,
        "invalid",
        " 1)",  # the byte offset
    ),
    "truncated-json": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"data": b'{"hook": ', "headers": JSON_TYPE},
        400,
        "invalid",
        "JSON",
    ),
    "envelope-missing-field": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"json": {"hook": "patient-view", "context": {}}},
        400,
        "invalid",
        "hookInstance: ",
    ),
    "envelope-wrong-type": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"json": {"hook": "patient-view", "hookInstance": 42, "context": []}},
        400,
        "invalid",
        "context: ",
    ),
    "context-bad-reference": (
        "POST",
        "/cds-services/calf-pain-triage",
        {
            "json": {
                "hook": "patient-view",
                "hookInstance": HOOK_INSTANCE,
                "context": {"userId": "Device/1", "patientId": "p1"},
            }
        },
        400,
        "invalid",
        "context.userId: ",
    ),
    "unknown-service": ("POST", "/cds-services/nope", {"json": {}}, 404, "not-found", "'nope'"),
    "unsupported-media-type": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
        415,
        "not-supported",
        "text/plain",
    ),
    "body-too-large": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"data": b" " * (BODY_LIMIT + 1), "headers": JSON_TYPE},
        413,
        "too-costly",
        str(BODY_LIMIT),
    ),
    "prefetch-unsatisfiable": (
        "POST",
        "/cds-services/calf-pain-triage",
        {"json": _without_prefetch()},
        412,
        "incomplete",
        "observations",
    ),
    "feedback-invalid-entry": (
        "POST",
        "/cds-services/calf-pain-triage/feedback",
        {"json": {"feedback": [{"card": HOOK_INSTANCE, "outcome": "maybe"}]}},
        400,
        "invalid",
        "feedback[0].outcome: ",
    ),
    "evaluate-not-a-bundle": (
        "POST",
        "/evaluate",
        {"json": {"resourceType": "Patient", "id": "p1"}},
        400,
        "invalid",
        "/cds-services/<id>",
    ),
    "report-bad-date": ("GET", "/reports/rules?since=yesterday", {}, 400, "invalid", "since: "),
    "unknown-code-system": ("GET", "/fhir/CodeSystem/nope", {}, 404, "not-found", "'nope'"),
}


@pytest.mark.parametrize("case", [pytest.param(case, id=case) for case in ERRORS])
def test_each_error_answers_diagnostics_in_the_request_language_with_the_same_code(
    errors_client: Any, case: str
) -> None:
    method, path, keywords, status, code, kept = ERRORS[case]
    answers = {}
    for language in ("en", "ru"):
        headers = {**keywords.get("headers", {})}
        if language == "ru":
            headers["Accept-Language"] = "ru"
        response = errors_client.open(path, method=method, **{**keywords, "headers": headers})
        assert response.status_code == status, (language, response.get_json())
        (issue,) = response.get_json()["issue"]
        assert issue["code"] == code
        answers[language] = issue["diagnostics"]
    assert not CYRILLIC.search(answers["en"]), answers["en"]
    assert CYRILLIC.search(answers["ru"]), answers["ru"]
    assert kept in answers["en"]
    assert kept in answers["ru"]
    # Nothing English is left beside the data: no marshmallow or msgspec sentence.
    assert not re.search(r"\b(Missing|Not a valid|malformed|is malformed|unknown)\b", answers["ru"])


def test_cds_language_ru_answers_errors_in_russian_without_a_header(tmp_path: Path) -> None:
    app = _app(tmp_path, language="ru")
    response = app.test_client().post(
        "/cds-services/calf-pain-triage", data=b"{1: 2}", headers=JSON_TYPE
    )
    assert response.get_json()["issue"] == [
        {
            "severity": "error",
            "code": "invalid",
            "diagnostics": "тело запроса не является корректным JSON: "
            "ключи объекта должны быть строками (байт 1)",
        }
    ]
    app.extensions["calf-cds"].store.close()


def test_malformed_json_is_said_once_with_its_byte_offset(errors_client: Any) -> None:
    response = errors_client.post(
        "/cds-services/calf-pain-triage", data=b"{not json", headers=JSON_TYPE
    )
    assert response.get_json()["issue"][0]["diagnostics"] == (
        "malformed JSON: object keys must be strings (byte 1)"
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{1: 2}", id="object-key"),
        pytest.param(b'{"hook": NaN}', id="invalid-character"),
        pytest.param(b'{"a": 1,}', id="trailing-comma-object"),
        pytest.param(b'{"a": [1,]}', id="trailing-comma-array"),
        pytest.param(b'{"a": 1} x', id="trailing-characters"),
        pytest.param(b'{"a" 1}', id="expected-colon"),
        pytest.param(b'{"a": 1 "b": 2}', id="expected-comma-object"),
        pytest.param(b'{"a": [1 2]}', id="expected-comma-array"),
        pytest.param(b'{"a": "\\q"}', id="bad-escape"),
        pytest.param(b'{"a": "\\u12x4"}', id="bad-unicode-escape"),
        pytest.param(b'{"a": 01}', id="invalid-number"),
    ],
)
def test_msgspec_decode_errors_each_have_their_own_message_id(raw: bytes) -> None:
    """The shapes msgspec names are listed, so a msgspec upgrade that rewords one fails here
    instead of answering English in a Russian body."""
    from cds.config import Settings
    from cds.errors import BadRequest
    from cds.jsonio import _JSON_PROBLEMS, json_object

    with pytest.raises(BadRequest) as refused:
        json_object(raw, Settings())
    assert refused.value.message in _JSON_PROBLEMS.values()
    assert refused.value.values["byte"] >= 1


def _request_schemas() -> list[Any]:
    from marshmallow import fields

    from cds.schemas import CONTEXT_SCHEMAS, FeedbackRequestSchema, HookRequestSchema

    seen: list[Any] = []
    queue: list[Any] = [HookRequestSchema(), FeedbackRequestSchema()]
    queue += [schema() for schema in CONTEXT_SCHEMAS.values()]
    while queue:
        schema = queue.pop()
        if type(schema) in {type(s) for s in seen}:
            continue
        seen.append(schema)
        for field in schema.fields.values():
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, fields.Nested):
                queue.append(inner.schema)
    return seen


def test_every_message_a_request_schema_can_answer_is_a_message_id() -> None:
    """marshmallow's own messages (fields, schemas, validators) all have a catalog entry, so
    an envelope error never answers English in a Russian body."""
    from marshmallow import fields
    from marshmallow.validate import Validator

    from cds.i18n import catalog_path

    with catalog_path("ru").open("rb") as po:
        from babel.messages.pofile import read_po

        ids = {message.id for message in read_po(po, locale="ru") if message.id}
    texts: set[str] = set()
    for schema in _request_schemas():
        texts.update(schema.error_messages.values())
        for field in schema.fields.values():
            for each in (field, *([field.inner] if isinstance(field, fields.List) else [])):
                texts.update(each.error_messages.values())
                texts.update(
                    v.error for v in each.validators if isinstance(v, Validator) and v.error
                )
    assert texts - ids == set()


def test_the_reference_message_names_the_types_and_length_the_check_uses() -> None:
    from marshmallow import ValidationError

    from cds.schemas import FHIR_ID_MAX_LENGTH, USER_REFERENCE_TYPES, _validate_user_reference

    with pytest.raises(ValidationError) as refused:
        _validate_user_reference("Device/1")
    (message,) = refused.value.messages
    assert f"one of {', '.join(USER_REFERENCE_TYPES)}," in message
    assert f"at most {FHIR_ID_MAX_LENGTH} characters" in message


# --- the CLI's indicator badge and priority, in the console's words ---------------------------

EMERGENCY_SAMPLE = "spinal-mscc-cancer-leg-weakness"


@pytest.mark.parametrize(
    ("name", "badge", "priority"),
    [
        pytest.param(DVT_SAMPLE, "ПРЕДУПРЕЖДЕНИЕ", "(приоритет: срочный)", id="warning-urgent"),
        pytest.param(EMERGENCY_SAMPLE, "КРИТИЧНО", "(приоритет: немедленно)", id="critical-stat"),
    ],
)
def test_cli_russian_text_writes_the_badge_and_priority_in_russian(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    badge: str,
    priority: str,
) -> None:
    for variable in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("COLUMNS", "300")
    sample = str(SAMPLES / f"{name}.json")
    assert main(["evaluate", sample, "--now", SAMPLE_CLOCK, "--lang", "ru"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].startswith(f"1.  {badge}  ")
    suggests = [line for line in out.splitlines() if line.startswith("Предлагает")]
    assert suggests
    assert all(line.endswith(priority) for line in suggests), suggests
    assert not re.search(r"\b(CRITICAL|WARNING|INFO)\b|\((stat|urgent|routine|asap)\)", out)
    # --json keeps the codes
    assert main(["evaluate", sample, "--now", SAMPLE_CLOCK, "--lang", "ru", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)["cards"]
    assert cards[0]["indicator"] in {"warning", "critical"}
    orders = [
        action["resource"]["priority"]
        for card in cards
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
    ]
    assert orders
    assert set(orders) <= {"stat", "urgent", "routine", "asap"}


def test_the_cli_words_are_the_consoles() -> None:
    from cds.cli.render import INDICATOR_WORDS, PRIORITY_WORDS
    from cds.http.console_text import MESSAGES

    assert {k: MESSAGES[f"indicator.{k}"] for k in INDICATOR_WORDS} == INDICATOR_WORDS
    assert {k: MESSAGES[f"order.priority.{k}"] for k in PRIORITY_WORDS} == PRIORITY_WORDS
