"""FHIR date, dateTime and instant strings as aware datetimes (clinical-rules.md §2).

Lenient by design: a naive time is read as UTC, a time without seconds is accepted, an `issued`
without a time is read as its date. A date without a time (a day, a month or a year) is read as
the last second of that period in UTC: the latest moment it can mean, so a record is never
pushed out of its window by the precision it was sent with (conservative).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime


def parse_when(text: str) -> datetime | None:
    """The moment a FHIR date or dateTime stands for, or None when it is not one."""
    text = text.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 12, 31, 23, 59, 59, tzinfo=UTC)
        if len(text) == 7 and text[4] == "-":
            year, month = int(text[:4]), int(text[5:7])
            return datetime(
                year, month, calendar.monthrange(year, month)[1], 23, 59, 59, tzinfo=UTC
            )
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(hour=23, minute=59, second=59, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_birth_date(text: str) -> date | None:
    """A birthDate; a partial date is read as its last day (the youngest possible age)."""
    when = parse_when(text)
    return when.date() if when else None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
