"""gunicorn's own log lines (bad requests, worker timeouts) in the service's JSON format."""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from ..observability import JsonFormatter


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, its error log written by calf-cds's JSON formatter: operators ship
    one stream of JSON lines, and a client's bytes quoted in a warning stay inside a string."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
