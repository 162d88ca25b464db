"""The request's documented extension, `extension["example.calf-cds"]`: what a caller may ask of
the answer (CDS Hooks 2.0 defines no such fields). Read by the HTTP views and the CLI alike.

`evaluationTime` (ISO 8601 with an offset): evaluate as of that time, so a sample gives its
documented cards on any date. Honoured only while authentication is off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import BadRequest

EXTENSION_KEY = "example.calf-cds"  # reverse-domain of calf-cds.example (CDS Hooks 2.0 §Extensions)
EVALUATION_TIME = "evaluationTime"


def ours(extension: Any) -> dict[str, Any] | None:
    """Our member of a request's `extension`, when it is a JSON object."""
    value = extension.get(EXTENSION_KEY) if isinstance(extension, dict) else None
    return value if isinstance(value, dict) else None


def instant(text: object, where: str) -> datetime:
    """An ISO 8601 date-time with its offset; BadRequest naming `where` otherwise."""
    if not isinstance(text, str):
        raise BadRequest(f"{where}: must be an ISO 8601 date-time with an offset")
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{where}: must be an ISO 8601 date-time with an offset") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"{where}: needs an offset, e.g. 2026-11-25T12:00:00Z")
    return parsed


def evaluation_time(extension: Any) -> datetime | None:
    """The requested reference time, None when the request asks for none."""
    member = ours(extension)
    if member is None or EVALUATION_TIME not in member:
        return None
    return instant(member[EVALUATION_TIME], f"extension.{EXTENSION_KEY}.{EVALUATION_TIME}")
