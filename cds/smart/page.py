"""What the app's pages show, as plain values for the templates (Jinja escapes every one).

The patient banner comes from the EHR's Patient resource, so every string in it is the EHR's
text: it is only ever shown escaped, and cut to a length a banner can hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.i18n import ENGLISH, Translator
from ..core.model import Card, Side
from .checklist import Section
from .prefill import LEGS, Choice, Prefill, field_name
from .questionnaire import LEG_NAMES

_TEXT_LIMIT = 120
CHOICE_LABELS = {
    Choice.PRESENT: "Present",
    Choice.ABSENT: "Absent",
    Choice.NOT_EXAMINED: "Not examined",
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


def recorded_notes(filled: Prefill) -> tuple[dict[str, str], dict[str, str]]:
    """(field -> "Recorded present, <date>", row key -> the note on a presence without side)."""

    def note(present: bool, date: str | None, prefix: str) -> str:
        word = "present" if present else "absent"
        return f"{prefix} {word}, {date or 'undated'}"

    fields = {
        name: note(record.present, record.date, "Recorded")
        for name, record in filled.recorded.items()
    }
    sides = {
        key: note(record.present, record.date, "Recorded without a side:")
        for key, record in filled.without_side.items()
    }
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


def card_views(cards: Iterable[Card]) -> tuple[CardView, ...]:
    """The re-evaluated cards, as the app shows them: summary, next steps, Wells, still missing."""
    views = []
    for card in cards:
        ext = card.extension
        wells = None
        if ext.wells is not None:
            wells = f"Wells {ext.wells.get('score')} ({ext.wells.get('classification')})"
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
