"""What the app's pages show, as plain values for the templates (Jinja escapes every one).

The patient banner comes from the EHR's Patient resource, so every string in it is the EHR's
text: it is only ever shown escaped, and cut to a length a banner can hold. Everything else is
ours, in the request's language (the `Translator` the view passes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..core.i18n import ENGLISH, N_, Translator
from ..core.model import Card, Side
from .checklist import Section
from .prefill import LEGS, Choice, Prefill, Recorded, field_name
from .questionnaire import LEG_NAMES

_TEXT_LIMIT = 120
CHOICE_LABELS = {
    Choice.PRESENT: N_("Present"),
    Choice.ABSENT: N_("Absent"),
    Choice.NOT_EXAMINED: N_("Not examined"),
}
# FHIR AdministrativeGender, as the banner shows it (any other text: as the EHR sent it).
_GENDERS = {
    "male": N_("male"),
    "female": N_("female"),
    "other": N_("other"),
    "unknown": N_("unknown"),
}
_WELLS = {
    "likely": N_("Wells {score} (likely)"),
    "unlikely": N_("Wells {score} (unlikely)"),
    "incomplete": N_("Wells {score} (incomplete)"),
}


@dataclass(frozen=True)
class FieldView:
    name: str  # the form field
    legend: str  # what a screen reader announces for the radio group
    leg: str | None  # "Left leg" / "Right leg", None for a question without a leg
    choice: str  # the checked answer
    recorded: str | None  # "Recorded present, 2026-11-25"


@dataclass(frozen=True)
class RowView:
    key: str
    label: str
    sided: bool
    fields: tuple[FieldView, ...]
    note: str | None  # a presence recorded without a side


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    rows: tuple[RowView, ...]


@dataclass(frozen=True)
class CardView:
    indicator: str
    summary: str
    steps: tuple[str, ...]
    wells: str | None
    not_recorded: tuple[str, ...]


def _text(value: object) -> str:
    return value.strip()[:_TEXT_LIMIT] if isinstance(value, str) else ""


def banner(patient: Mapping[str, Any] | None) -> dict[str, str]:
    """Name, birth date and gender as the EHR wrote them (text only, cut short)."""
    if not isinstance(patient, Mapping):
        return {"name": "", "birth_date": "", "gender": ""}
    name = ""
    names = patient.get("name")
    if isinstance(names, list) and names and isinstance(names[0], Mapping):
        first = names[0]
        given = first.get("given")
        parts = [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
        name = _text(first.get("text")) or _text(" ".join([*parts, _text(first.get("family"))]))
    return {
        "name": name,
        "birth_date": _text(patient.get("birthDate")),
        "gender": _text(patient.get("gender")),
    }


def choices(t: Translator = ENGLISH) -> dict[str, str]:
    """Each answer's value -> its label."""
    return {choice.value: t.gettext(label) for choice, label in CHOICE_LABELS.items()}


def banner_details(shown: Mapping[str, str], t: Translator = ENGLISH) -> dict[str, str]:
    """The banner's birth date and gender in `t`'s language: an ISO date in its notation, a
    FHIR gender code by its word; anything else as the EHR wrote it."""
    born = shown.get("birth_date", "")
    with contextlib.suppress(ValueError):  # a partial date ("1970-03") is shown as written
        born = t.date(date.fromisoformat(born)) if born else ""
    gender = shown.get("gender", "")
    if gender in _GENDERS:
        gender = t.gettext(_GENDERS[gender])
    return {"birth_date": born, "gender": gender}


def recorded_notes(
    filled: Prefill, t: Translator = ENGLISH
) -> tuple[dict[str, str], dict[str, str]]:
    """(field -> "Recorded present, <date>", row key -> the note on a presence without side)."""

    def note(record: Recorded, with_side: bool) -> str:
        when = t.date(record.when.date()) if record.when else t.gettext(N_("undated"))
        if with_side:
            text = (
                N_("Recorded present, {date}") if record.present else N_("Recorded absent, {date}")
            )
        else:
            text = (
                N_("Recorded without a side: present, {date}")
                if record.present
                else N_("Recorded without a side: absent, {date}")
            )
        return t.gettext(text).format(date=when)

    fields = {name: note(record, True) for name, record in filled.recorded.items()}
    sides = {key: note(record, False) for key, record in filled.without_side.items()}
    return fields, sides


def form_sections(
    sections: Sequence[Section],
    answers: Mapping[str, str],
    notes: Mapping[str, str],
    side_notes: Mapping[str, str],
    t: Translator = ENGLISH,
) -> tuple[SectionView, ...]:
    """The form: each question with its answer (submitted, else pre-filled) and its record."""
    out = []
    for section in sections:
        rows = []
        for row in section.rows:
            label = t.gettext(row.label)
            sides: Iterable[Side | None] = LEGS if row.sided else (None,)
            fields = []
            for side in sides:
                name = field_name(row, side)
                leg = t.gettext(LEG_NAMES[side]) if side is not None else None
                fields.append(
                    FieldView(
                        name=name,
                        legend=f"{label}: {leg.lower()}" if leg else label,
                        leg=leg,
                        choice=answers.get(name, Choice.NOT_EXAMINED.value),
                        recorded=notes.get(name),
                    )
                )
            rows.append(RowView(row.key, label, row.sided, tuple(fields), side_notes.get(row.key)))
        out.append(SectionView(section.key, t.gettext(section.title), tuple(rows)))
    return tuple(out)


def card_views(cards: Iterable[Card], t: Translator = ENGLISH) -> tuple[CardView, ...]:
    """The re-evaluated cards, as the app shows them: summary, next steps, Wells, still missing.
    The cards come in `t`'s language already; the Wells line is written here."""
    views = []
    for card in cards:
        ext = card.extension
        wells = None
        if ext.wells is not None:
            classification = str(ext.wells.get("classification"))
            text = _WELLS.get(classification, "Wells {score} ({classification})")
            wells = t.gettext(text).format(
                score=ext.wells.get("score"), classification=classification
            )
        views.append(
            CardView(
                indicator=card.indicator,
                summary=card.summary,
                steps=ext.next_steps,
                wells=wells,
                not_recorded=ext.not_recorded,
            )
        )
    return tuple(views)
