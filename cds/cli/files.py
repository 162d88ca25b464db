"""What the CLI says when it cannot read its input file: the file named, the reason in words."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NESTED_TOO_DEEPLY = "JSON nested too deeply"


@dataclass(frozen=True)
class NotJson:
    """An NDJSON line that is not JSON: the file's other lines are still read."""

    reason: str


def ndjson_line(line: str) -> Any:
    """One NDJSON line's JSON value, or NotJson saying why it has none."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return NotJson(f"not JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return NotJson(NESTED_TOO_DEEPLY)


def unreadable(path: Path, exc: Exception) -> str:
    """'cannot read <path>: <why>' for an OSError, a decoding error or a JSON error."""
    if isinstance(exc, FileNotFoundError):
        hint = " (a sample of that name is in fhir_samples/)" if _is_sample(path) else ""
        why = f"no such file{hint}"
    elif isinstance(exc, IsADirectoryError):
        why = "a directory, not a file"
    elif isinstance(exc, PermissionError):
        why = "permission denied"
    elif isinstance(exc, UnicodeDecodeError):
        why = f"not UTF-8 text (byte {exc.start})"
    elif isinstance(exc, json.JSONDecodeError):
        why = f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    elif isinstance(exc, OSError):
        why = exc.strerror or str(exc)
    elif isinstance(exc, RecursionError):
        why = NESTED_TOO_DEEPLY
    else:
        why = str(exc)
    return f"cannot read {path}: {why}"


def _is_sample(path: Path) -> bool:
    from ..http.console import DEFAULT_SAMPLES_DIR  # only on this error path: it loads Flask

    return len(path.parts) == 1 and (DEFAULT_SAMPLES_DIR / path.name).is_file()
