"""The submitted form: its answers, and the statements they make that the record lacks.

Pure. A question left alone, or answered as the record already says, is not written again: a
record keeps its own date, and the EHR is not filled with copies. A leg answered the same on
both sides becomes one statement about both legs (SNOMED "Right and left"), so bilateral pitting
oedema stays bilateral (§2: it never counts as a one-sided Wells item).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..core.model import Side
from .checklist import Row
from .prefill import LEGS, Choice, field_name, field_names

_CHOICES = {choice.value: choice for choice in Choice}


@dataclass(frozen=True)
class Statement:
    """One Observation to write: a question, its leg (UNKNOWN when it has none), the answer."""

    row: Row
    side: Side
    present: bool

    @property
    def fields(self) -> tuple[str, ...]:
        """The form fields this statement answers (both legs for a bilateral one)."""
        if self.side is Side.UNKNOWN:
            return (self.row.key,)
        if self.side is Side.BILATERAL:
            return field_names(self.row)
        return (field_name(self.row, self.side),)


class InvalidAnswers(ValueError):
    """A field holds something other than present / absent / not-examined."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


def parse(rows: Iterable[Row], form: Mapping[str, str]) -> dict[str, Choice]:
    """field name -> answer for every question shown; a missing field is not examined.
    Raises InvalidAnswers naming the fields with any other value (fields not shown are
    ignored: only the shown questions can be written)."""
    answers: dict[str, Choice] = {}
    invalid: list[str] = []
    for row in rows:
        for name in field_names(row):
            raw = form.get(name, Choice.NOT_EXAMINED.value)
            choice = _CHOICES.get(raw)
            if choice is None:
                invalid.append(name)
            else:
                answers[name] = choice
    if invalid:
        raise InvalidAnswers(invalid)
    return answers


def statements(
    rows: Iterable[Row], answers: Mapping[str, Choice], recorded: Mapping[str, str]
) -> list[Statement]:
    """What the answers say that the record (`recorded`: field -> pre-filled answer) does not."""
    out: list[Statement] = []
    for row in rows:
        new = {
            name: answers[name]
            for name in field_names(row)
            if name in answers
            and answers[name] is not Choice.NOT_EXAMINED
            and answers[name].value != recorded.get(name, Choice.NOT_EXAMINED.value)
        }
        if not row.sided:
            out += [
                Statement(row, Side.UNKNOWN, choice is Choice.PRESENT) for choice in new.values()
            ]
            continue
        by_side = {side: new.get(field_name(row, side)) for side in LEGS}
        left, right = by_side[Side.LEFT], by_side[Side.RIGHT]
        if left is not None and left is right:
            out.append(Statement(row, Side.BILATERAL, left is Choice.PRESENT))
            continue
        out += [
            Statement(row, side, choice is Choice.PRESENT)
            for side, choice in by_side.items()
            if choice is not None
        ]
    return out
