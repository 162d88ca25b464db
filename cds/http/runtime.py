"""The per-app runtime objects the views share (settings, store, service dependencies)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..config import Settings
from ..service import Deps, Store

EXTENSION_KEY = "calf-cds"


@dataclass
class Runtime:
    settings: Settings
    deps: Deps
    store: Store | None


def runtime() -> Runtime:
    value: Runtime = current_app.extensions[EXTENSION_KEY]
    return value
