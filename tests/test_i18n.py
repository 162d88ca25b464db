"""The message catalogs (issue 21): complete, current with the code, placeholders intact; and the
Babel-backed Translator's Russian plurals, lists, numbers, dates and units."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from conftest import REPO

from cds.config import Settings
from cds.core.i18n import ENGLISH
from cds.errors import ConfigurationError
from cds.i18n import LANGUAGES, SOURCE_LANGUAGE, catalog_path, supported, translator_for

TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _catalog(language: str):  # type: ignore[no-untyped-def]
    with catalog_path(language).open("rb") as po:
        return read_po(po, locale=language)


def _ids(catalog) -> set[object]:  # type: ignore[no-untyped-def]
    return {message.id for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The message ids as the code marks them today, extracted as `make messages` does."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    argv = ["pybabel", "-q", "extract", "-F", str(REPO / "babel.cfg"), "-k", "N_", "-k", "_"]
    argv += ["-k", "gettext", "-k", "ngettext:1,2", "--omit-header", "-o", str(out), str(REPO)]
    CommandLineInterface().run(argv)
    return out


def test_every_language_but_the_source_has_a_catalog_and_no_other_catalog_exists() -> None:
    on_disk = {path.parent.parent.name for path in (REPO / "cds" / "translations").glob("*/*/*.po")}
    assert on_disk == set(TRANSLATED)


def test_messages_pot_is_current_with_the_code(extracted: Path) -> None:
    with extracted.open("rb") as fresh, (REPO / "messages.pot").open("rb") as committed:
        assert _ids(read_po(committed)) == _ids(read_po(fresh)), "run `make messages`"


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_holds_exactly_the_message_ids_of_the_code(language: str, extracted: Path) -> None:
    with extracted.open("rb") as fresh:
        expected = _ids(read_po(fresh))
    found = _ids(_catalog(language))
    assert not expected - found, f"missing from {language}: run `make messages`"
    assert not found - expected, f"obsolete in {language}: run `make messages`"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_id_has_a_reviewed_translation(language: str) -> None:
    catalog = _catalog(language)
    untranslated = [
        message.id
        for message in catalog
        if message.id
        and (
            message.fuzzy
            or not all(message.string if isinstance(message.string, tuple) else [message.string])
        )
    ]
    assert untranslated == []
    plurals = [m for m in catalog if isinstance(m.id, tuple)]
    assert plurals, "the catalog has plural entries"
    assert all(len(m.string) == catalog.num_plurals for m in plurals)


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_of_their_message_id(language: str) -> None:
    """A summary may move a slot to the start ({Calf symptom}) or into running text ({calf
    symptom}); it may not drop, add or rename one."""

    def slots(text: str) -> set[str]:
        return {name[:1].lower() + name[1:] for name in PLACEHOLDER.findall(text)}

    wrong = []
    for message in _catalog(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = slots(ids[-1]) | slots(ids[0])
        wrong += [(ids[0], text) for text in strings if slots(text) != expected]
    assert wrong == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_passes_babels_checks(language: str) -> None:
    catalog = _catalog(language)
    problems = [(message.id, errors) for message, errors in catalog.check() if errors]
    assert problems == []


# --- the Translator -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ru():  # type: ignore[no-untyped-def]
    return translator_for("ru")


def test_english_is_the_source_language_and_needs_no_catalog() -> None:
    assert translator_for("en") is ENGLISH
    assert ENGLISH.gettext("Why") == "Why"


def test_an_unsupported_language_has_no_translator() -> None:
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        translator_for("de")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        pytest.param(1, "записан 1 балл", id="1"),
        pytest.param(2, "записано 2 балла", id="2"),
        pytest.param(4, "записано 4 балла", id="4"),
        pytest.param(5, "записано 5 баллов", id="5"),
        pytest.param(11, "записано 11 баллов", id="11"),
        pytest.param(21, "записан 21 балл", id="21"),
        pytest.param(22, "записано 22 балла", id="22"),
    ],
)
def test_russian_has_three_plural_forms(ru, n: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    text = ru.ngettext("{n} point recorded", "{n} points recorded", n).format(n=n)
    assert text == expected


@pytest.mark.parametrize(
    ("items", "conjunction", "expected"),
    [
        pytest.param(["одышка"], "and", "одышка", id="one"),
        pytest.param(["одышка", "обморок"], "and", "одышка и обморок", id="two-and"),
        pytest.param(["красной", "бледной", "синюшной"], "or", "красной, бледной или синюшной"),
    ],
)
def test_lists_join_with_russian_conjunctions(ru, items, conjunction, expected) -> None:  # type: ignore[no-untyped-def]
    assert ru.join(items, ru.gettext(conjunction)) == expected


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        pytest.param(0.9, 2, "0,90", id="decimal-comma"),
        pytest.param(38.94, 1, "38,9", id="one-decimal"),
        pytest.param(1500, 0, "1\u00a0500", id="thousands"),
        pytest.param(2.5, 0, "2", id="rounds-as-english"),
    ],
)
def test_numbers_use_the_russian_separators_with_the_english_rounding(
    ru, value: float, decimals: int, expected: str
) -> None:  # type: ignore[no-untyped-def]
    assert ru.number(value, decimals) == expected
    assert ENGLISH.number(value, decimals).replace(",", "").replace(".", ",") == expected.replace(
        "\u00a0", ""
    )


def test_dates_are_written_day_month_year(ru) -> None:  # type: ignore[no-untyped-def]
    assert ru.date(date(2026, 11, 5)) == "05.11.2026"
    assert ENGLISH.date(date(2026, 11, 5)) == "2026-11-05"


@pytest.mark.parametrize(
    ("unit", "russian"),
    [("ng/mL", "нг/мл"), ("mg/L", "мг/л"), ("mmol/L", "ммоль/л"), ("/min", "уд/мин")],
)
def test_units_are_written_in_russian_notation(ru, unit: str, russian: str) -> None:  # type: ignore[no-untyped-def]
    assert ru.gettext(unit) == russian


@pytest.mark.parametrize(
    ("tag", "language"),
    [("ru", "ru"), ("ru-RU", "ru"), ("RU", "ru"), ("en_GB", "en"), ("de", None)],
)
def test_a_language_tag_names_a_supported_language_by_its_primary_subtag(
    tag: str, language: str | None
) -> None:
    assert supported(tag) == language


def test_cds_language_must_be_a_supported_language() -> None:
    assert Settings.load(environ={"CDS_LANGUAGE": "ru"}).language == "ru"
    with pytest.raises(ConfigurationError, match="CDS_LANGUAGE must be one of en, ru"):
        Settings.load(environ={"CDS_LANGUAGE": "de"})
