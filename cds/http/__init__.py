"""The thin Flask layer: each view parses (schemas), delegates (service/store), serialises."""

from __future__ import annotations

from flask import Blueprint

from . import apidoc, catalog, console, feedback, headers, health, hooks, monitoring, reports

BLUEPRINTS: list[Blueprint] = [
    hooks.blueprint,
    catalog.blueprint,
    health.blueprint,
    feedback.blueprint,
    reports.blueprint,
    console.blueprint,
    apidoc.blueprint,
    monitoring.blueprint,
    headers.blueprint,
]
