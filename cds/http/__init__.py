"""The thin Flask layer: each view parses (schemas), delegates (service/store), serialises."""

from __future__ import annotations

from flask import Blueprint

from . import catalog, health, hooks

BLUEPRINTS: list[Blueprint] = [
    hooks.blueprint,
    catalog.blueprint,
    health.blueprint,
]
