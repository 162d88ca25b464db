"""The testers' card console: `GET /`, `GET /console/rules`, the bundled samples, static files.

Server-rendered Jinja (autoescaped) plus one local script; nothing from a CDN, so it works
offline. Cards are fetched by the browser from the real API and drawn with DOM text nodes
(cds/static/console.js), never as HTML. Everything here answers 404 when CDS_CONSOLE=off
(the Docker image), including the static files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale
from babel.numbers import format_percent
from flask import Blueprint, Response, render_template, request

from ..core.describe import RuleDescription
from ..core.describe import catalog as rule_descriptions
from ..core.findings import FINDINGS
from ..core.i18n import ENGLISH, N_, Translator
from ..core.rules import RULE_SET_VERSION, WELLS_ITEMS
from ..errors import NotFound, StoreUnavailable
from ..i18n import LANGUAGES
from ..registry import SERVICES
from .console_text import console_messages
from .jsonout import json_response
from .language import request_translator
from .runtime import runtime

_CDS = Path(__file__).resolve().parent.parent
DEFAULT_SAMPLES_DIR = _CDS.parent / "fhir_samples"
SAMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.json")

blueprint = Blueprint(
    "console",
    __name__,
    template_folder=str(_CDS / "templates"),
    static_folder=str(_CDS / "static"),
    static_url_path="/console/static",
)


@blueprint.before_app_request
def _console_enabled() -> None:
    """CDS_CONSOLE=off hides the console and every file it serves (also Flask's /static)."""
    if runtime().settings.console:
        return
    if request.blueprint == "console" or request.endpoint == "static":
        raise NotFound(N_("no such endpoint; see GET /cds-services"))


# --- samples -------------------------------------------------------------------------------


def samples_dir() -> Path:
    """fhir_samples/ next to the package (a checkout); tests may pass `samples_dir` in config."""
    configured = runtime().settings.extra.get("samples_dir")
    return Path(configured) if configured else DEFAULT_SAMPLES_DIR


def sample_files() -> dict[str, Path]:
    """name -> path of each `*.json` directly in the samples directory ({} when it is absent).

    Only names matching SAMPLE_NAME are listed, and a sample is later looked up in this dict,
    never by joining a requested name to a path: `../`, absolute paths, symlinks out of the
    directory and encoded slashes cannot reach any other file.
    """
    directory = samples_dir()
    if not directory.is_dir():
        return {}
    root = directory.resolve()
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if not SAMPLE_NAME.fullmatch(path.name) or not path.is_file():
            continue
        if path.resolve().parent != root:  # a symlink pointing out of the directory
            continue
        found[path.name] = path
    return found


@blueprint.get("/console/samples")
def samples() -> Response:
    return json_response({"samples": list(sample_files())})


@blueprint.get("/console/samples/<name>")
def sample(name: str) -> Response:
    path = sample_files().get(name)
    if path is None:
        raise NotFound(N_("no sample named {name}; see GET /console/samples"), name=repr(name))
    return Response(path.read_bytes(), status=200, mimetype="application/json")


# --- pages ---------------------------------------------------------------------------------


@blueprint.context_processor
def _language_switch() -> dict[str, Any]:
    """The switch's choices, each language named in itself ("English", "Русский")."""
    return {"language_choices": [(code, _autonym(code)) for code in LANGUAGES]}


def _autonym(language: str) -> str:
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


@blueprint.get("/")
def index() -> str:
    t = request_translator()
    services = [
        {"id": service.id, "hook": service.hook, "title": t.gettext(service.title)}
        for service in SERVICES.values()
    ]
    return render_template(
        "console.html",
        services=services,
        samples=list(sample_files()),
        finding_labels=_finding_labels(t),
        # console.js's own words, in the page's language (cds.http.console_text)
        console_messages=console_messages(t.language),
        # The red-flag check app's smart links launch through a dev EHR, when one is set.
        smart_launcher={"devEhr": runtime().settings.smart_dev_ehr_url.rstrip("/") or None},
        page="console",
    )


@blueprint.get("/console/rules")
def rules() -> str:
    t = request_translator()
    counts, store_error = _rule_counts(t)
    rows = [_rule_row(d, counts.get(d.id), t) for d in rule_descriptions(t)]
    data_quality = counts.get(None)
    return render_template(
        "rules.html",
        rule_set=f"calf-cds {RULE_SET_VERSION}",
        rows=rows,
        data_quality=data_quality,
        counts_available=store_error is None,
        store_error=store_error,
        chart=override_chart(rows, t),
        axis=(_percent(0.0, t), _percent(1.0, t)),
        page="rules",
    )


@dataclass(frozen=True)
class RuleCounts:
    issued: int
    accepted: int
    overridden: int
    override_rate: float | None


def _rule_counts(t: Translator) -> tuple[dict[str | None, RuleCounts], str | None]:
    """Per-rule counts from the store, or ({}, why) when the store cannot answer."""
    store = runtime().store
    if store is None:
        return {}, t.gettext(N_("no feedback store is configured"))
    try:
        report = store.report().rows
    except StoreUnavailable as exc:
        return {}, exc.translated(t)
    return (
        {
            row.rule_id: RuleCounts(row.issued, row.accepted, row.overridden, row.override_rate)
            for row in report
        },
        None,
    )


def _rule_row(
    described: RuleDescription, counts: RuleCounts | None, t: Translator
) -> dict[str, Any]:
    return {
        "id": described.id,
        "name": described.name,
        "tier": described.tier,
        "routes": described.routes,
        "criteria": described.criteria,
        "variants": described.variants,
        "source_label": described.source,
        "source_url": described.url if _is_http_url(described.url) else None,
        "counts": counts,
        "rate": _rate_text(counts, t),
    }


def _percent(rate: float, t: Translator) -> str:
    """A whole percentage in the language's notation ("75%"; Russian "75 %")."""
    return format_percent(rate, locale=t.language)


def _rate_text(counts: RuleCounts | None, t: Translator) -> str:
    if counts is None or counts.override_rate is None:
        return "–"
    return _percent(counts.override_rate, t)


def _is_http_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _finding_labels(t: Translator) -> dict[str, str]:
    """finding id -> its name (§3 catalog; Wells items by their NICE NG158 wording)."""
    labels = {finding_id: t.gettext(definition.name) for finding_id, definition in FINDINGS.items()}
    # Wells item labels are lower-case list items; the console shows them as names.
    labels.update({finding_id: t.gettext(label) for finding_id, label, _points in WELLS_ITEMS})
    return labels


# --- the override-rate chart ---------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    rule_id: str
    rate: float  # 0..1
    label: str  # "25% (1 of 4)"
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bar_area: int
    bar_height: int
    bars: tuple[Bar, ...]


def override_chart(rows: Sequence[Mapping[str, Any]], t: Translator = ENGLISH) -> Chart:
    """Horizontal bars of override rate (overridden / cards with an outcome) per rule.

    Only rules with at least one outcome get a bar; geometry is computed here so the template
    only places shapes (SVG presentation attributes; no inline style, which the CSP forbids).
    """
    label_width, bar_area, bar_height, gap = 190, 360, 18, 8
    bars: list[Bar] = []
    for row in rows:
        counts: RuleCounts | None = row.get("counts")
        if counts is None or counts.override_rate is None:
            continue
        decided = counts.accepted + counts.overridden
        rate = max(0.0, min(1.0, counts.override_rate))
        bars.append(
            Bar(
                rule_id=str(row["id"]),
                rate=rate,
                label=t.gettext(N_("{rate} ({overridden} of {decided})")).format(
                    rate=_percent(rate, t), overridden=counts.overridden, decided=decided
                ),
                y=len(bars) * (bar_height + gap) + gap,
                width=round(rate * bar_area, 1),
            )
        )
    height = max(1, len(bars)) * (bar_height + gap) + gap + 20
    return Chart(
        width=label_width + bar_area + 120,
        height=height,
        label_width=label_width,
        bar_area=bar_area,
        bar_height=bar_height,
        bars=tuple(bars),
    )
