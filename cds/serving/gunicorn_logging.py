"""gunicorn's own log lines (bad requests, worker timeouts) in the service's JSON format."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from gunicorn import glogging

from ..observability import JsonFormatter


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, its error log written by calf-cds's JSON formatter: operators ship
    one stream of JSON lines, and a client's bytes quoted in a warning stay inside a string."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(_WithFrames())
            handler.addFilter(_without_client_text)


_BAD_REQUEST = "Invalid request from ip="


def _without_client_text(record: logging.LogRecord) -> bool:
    """gunicorn quotes the bytes of a request it refuses ("Invalid HTTP request line: 'GET
    /x?patient=…'"), which may hold a patient id or a token: only the kind of error is kept."""
    message = record.getMessage()
    if message.startswith(_BAD_REQUEST):
        where, _, error = message.partition(": ")
        kind = error.split(":", 1)[0].split(" '", 1)[0]
        record.msg, record.args = f"{where}: {kind} (the client's bytes are not logged)", ()
    return True


class _WithFrames(JsonFormatter):
    """Adds an exception's frames (file, line, function; never values, which may hold PHI):
    a worker that fails to boot must be diagnosable from its log line."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[2] is not None:
            record.frames = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(record.exc_info[2])
            ]
        return super().format(record)
