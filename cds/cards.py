"""Assessment -> wire-ready CDS Hooks 2.0 cards (clinical-rules.md §7; cds-hooks.md "Response").

Pure: dicts of JSON types only. One card per fired rule, ordered E, U, R, S then rule id, then an
info card (no rule topic) when resources were unreadable or prefetch keys unsatisfied. A card that
fails to build is logged (rule id only) and replaced by a minimal card: never raises, never drops
the other cards (§1.1). Optional fields are omitted, never sent as null, "", [] or {}.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .engine import Assessment, FiredRule
from .model import (
    TAG_AT_ANY_SITE,
    TAG_BLOCKS_SELF_CARE,
    TAG_HEART_RATE,
    TAG_NOT_DEEP_VEIN,
    TAG_SUPPORTING,
    Finding,
    Side,
    Tier,
)
from .routes import Route, coding, route_for
from .rules import RULE_SET_LABEL, SUMMARY_LIMIT

log = logging.getLogger(__name__)

DISCLAIMER = "Decision support only; clinical judgement applies."
SAFETY_NET = (
    "Safety net: reassess at once if the leg becomes more swollen, red, hot, cold, pale, blue or "
    "numb, or with breathlessness, chest pain or fever."
)
EXTENSION_KEY = "example.calf-cds"  # reverse-domain of calf-cds.example (CDS Hooks 2.0 §Extensions)

# `<fhir_base>` + these paths (clinical-rules.md §2 "Local codes").
RULE_SYSTEM_PATH = "/CodeSystem/rule"
OVERRIDE_SYSTEM_PATH = "/CodeSystem/override-reason"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-referred", "Already referred"),
    ("patient-declined", "Patient declined"),
    ("alternative-diagnosis-more-likely", "Alternative diagnosis more likely"),
    ("not-clinically-relevant", "Not clinically relevant"),
)


# Findings sited on one leg: for these a missing side is named on thrombosis/ischaemia cards
# ("side not recorded (counted as one-sided)", §2 "Laterality"); for labs it means nothing.
SIDED_FINDINGS = frozenset(
    {
        "F-CALF-PAIN", "F-LEG-SWELLING", "F-ANKLE-SWELLING", "F-CALF-SWELLING-3CM",
        "F-ENTIRE-LEG-SWOLLEN", "F-PITTING-EDEMA", "F-DEEP-VEIN-TENDERNESS", "F-COLLATERAL-VEINS",
        "F-ERYTHEMA", "F-WARMTH", "F-CYANOSIS", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB",
        "F-PULSELESS", "F-SENSORY-MOTOR-LOSS", "F-SVT", "F-CELLULITIS", "F-COMPARTMENT",
        "F-GANGRENE", "F-REST-PAIN", "F-ABI", "F-SKIN-DISCOLOURATION",
    }
)  # fmt: skip


def _new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class CardContext:
    """What every card builder needs besides its fired rule."""

    assessment: Assessment
    settings: Settings
    patient_id: str | None
    new_uuid: Callable[[], str]

    @property
    def base(self) -> str:
        return self.settings.fhir_base.rstrip("/")

    def route(self, key: str) -> Route:
        return route_for(key, self.settings.route_profile)


RuleCardBuilder = Callable[[FiredRule, CardContext], dict[str, Any]]


# --------------------------------------------------------------------------- text helpers
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|"})


def _md(text: str) -> str:
    """Escape EHR-supplied text so it cannot inject markdown (links, emphasis, tables)."""
    return text.translate(_MD_SPECIAL)


def _label(record: Finding) -> str:
    return record.label or record.code.display or record.code.code or record.finding_id


def _value(record: Finding) -> str:
    m = record.measurement
    if m is None:
        return ""
    if m.original:
        return m.original
    comparator = m.comparator or ""
    return f"{comparator}{m.value:g} {m.unit}".strip()


def _date(record: Finding) -> str:
    return record.when.date().isoformat() if record.when else "undated"


def _side_text(record: Finding, lateral: bool) -> str:
    if record.side is not Side.UNKNOWN:
        return str(record.side.value)
    if lateral and record.finding_id in SIDED_FINDINGS:
        return "side not recorded (counted as one-sided)"
    return ""


def _record_line(record: Finding, *, lateral: bool, note: str = "") -> str:
    parts = [f"{_md(_label(record))} ({record.finding_id})"]
    details = [_md(record.reference), _date(record)]
    if value := _value(record):
        details.append(_md(value))
    if side := _side_text(record, lateral):
        details.append(side)
    if not record.present:
        details.append("recorded absent")
    if TAG_NOT_DEEP_VEIN in record.tags:
        details.append("tenderness not localised to the deep veins")
    if TAG_HEART_RATE in record.tags:
        details.append("heart rate over 100 alone")
    if TAG_AT_ANY_SITE in record.tags:
        details.append("muscle pain, site not the calf")
    if not record.interpretable:
        details.append("not interpretable")
    if note:
        details.append(note)
    return "- " + parts[0] + ": " + ", ".join(details)


def _related_note(record: Finding) -> str:
    if not record.in_window:
        when = record.when.date().isoformat() if record.when else "undated"
        return f"last recorded {when}, outside the window"
    if TAG_SUPPORTING in record.tags:
        return "supporting evidence only"
    if record.when is None:
        return "undated (counted as current)"
    return ""


def _evidence_wire(record: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"finding": record.finding_id, "reference": record.reference}
    if record.when is not None:
        out["date"] = record.when.isoformat()
    if value := _value(record):
        out["value"] = value
    out["side"] = record.side.value
    out["present"] = record.present
    return out


def _not_interpretable_lines(assessment: Assessment) -> list[str]:
    lines = []
    for record in assessment.not_interpretable:
        blocking = "; blocks self-care advice" if TAG_BLOCKS_SELF_CARE in record.tags else ""
        value = _md(_value(record)) or "value"
        lines.append(
            f"- {_md(_label(record))} ({record.finding_id}): {value} is not interpretable "
            f"(unit could not be converted){blocking}; {_md(record.reference)}, {_date(record)}"
        )
    return lines


def _summary(text: str) -> str:
    """CDS Hooks: summary < 140 characters (rows are checked; this is the last guard)."""
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2] + "…"


_EMPTY: tuple[object, ...] = (None, "", [], {})
_SCALARS = (bool, int, float)


def _clean(value: Any) -> Any:
    """Drop None, "", [] and {} recursively (cds-hooks.md "Response": omit optional fields).

    One pass, without intermediate copies: a value is kept unless it is (or, for a dict or
    list, cleans down to) one of the empties, exactly as `value not in _EMPTY` decides.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                if item:
                    out[key] = item
            elif kind in _SCALARS:
                out[key] = item
            elif item is not None:
                item = _clean(item)
                if _kept(item):
                    out[key] = item
        return out
    if isinstance(value, list):
        items = []
        for item in value:
            kind = type(item)
            if kind is str:
                if item:
                    items.append(item)
            elif kind in _SCALARS:
                items.append(item)
            elif item is not None:
                item = _clean(item)
                if _kept(item):
                    items.append(item)
        return items
    return value


def _kept(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return bool(value != "")
    if kind in _SCALARS:
        return True
    if kind is dict or kind is list:
        return bool(value)
    return bool(value not in _EMPTY)


def _source(rule_id: str, name: str, url: str, base: str) -> dict[str, Any]:
    return {
        "label": RULE_SET_LABEL,
        "url": url,
        "topic": {"system": base + RULE_SYSTEM_PATH, "code": rule_id, "display": name},
    }


# --------------------------------------------------------------------------- rule cards
def _subject(fired: FiredRule, patient_id: str | None) -> str | None:
    if patient_id:
        return f"Patient/{patient_id}"
    return next((r.subject for r in fired.evidence if r.subject), None)


def _service_request(fired: FiredRule, route: Route, subject: str, base: str) -> dict[str, Any]:
    assert route.code is not None
    reasons = list(dict.fromkeys(r.reference for r in fired.evidence if r.reference))
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "priority": fired.rule.tier.priority,
        "category": [{"coding": [coding(route.category, base)], "text": route.category.display}],
        "code": {"coding": [coding(route.code, base)], "text": route.code.display},
        "subject": {"reference": subject},
        "reasonReference": [{"reference": ref} for ref in reasons],
    }
    if route.performer is not None:
        resource["performerType"] = {
            "coding": [coding(route.performer, base)],
            "text": route.performer.display,
        }
    return resource


def build_rule_card(fired: FiredRule, ctx: CardContext) -> dict[str, Any]:
    """The full card for one fired rule (§7). May raise on a bug; build_cards contains it."""
    rule = fired.rule
    assessment = ctx.assessment
    route = ctx.route(rule.route)
    lines: list[str] = []
    extension: dict[str, Any] = {
        "ruleId": rule.id,
        "tier": rule.tier.value,
        "route": rule.route,
        "evidence": [_evidence_wire(r) for r in fired.evidence],
        "notRecorded": list(assessment.not_recorded),
    }

    if rule.id == "R-NO-RED-FLAG-DATA":
        lines.append("**No red flags found in the recorded data.**")
        for record in assessment.pe_signs:
            lines.append(
                "- PE sign present, assess for pulmonary embolism: "
                + _record_line(record, lateral=False)[2:]
            )
        lines.append("")
    lines.append(f"**Why ({_md(rule.name)})**")
    lines.extend(_record_line(r, lateral=rule.lateral) for r in fired.evidence)

    if fired.wells is not None:
        wells = fired.wells
        extension["wells"] = wells.as_wire()
        lines.append("")
        lines.append(f"**Wells score (two-level, NICE NG158)**: {wells.statement}")
        for item in wells.items:
            mark = {"present": "present", "absent": "absent"}.get(item.status, "not recorded")
            note = f" ({item.note})" if item.note else ""
            lines.append(f"- {item.label} ({item.points:+d}): {mark}{note}")
    if fired.d_dimer is not None:
        lines.append("")
        lines.append(f"**D-dimer**: {fired.d_dimer.statement}")

    lines.append("")
    steps = [rule.next_step]
    if fired.wells is not None:
        steps.append(fired.wells.next_step)
    if route.note:
        steps.append(route.note)
    lines.append("**What to do next**: " + " ".join(steps))
    if route.creates_request:
        lines.append(f"Referral: {route.wording}.")

    suggestions: list[dict[str, Any]] = []
    if route.creates_request:
        subject = _subject(fired, ctx.patient_id)
        if subject is None:
            lines.append(
                "No patient reference in the request or the triggering resources: the referral "
                "could not be drafted here; refer manually."
            )
        else:
            assert route.code is not None
            suggestions.append(
                {
                    "label": f"Draft referral: {route.code.display}",
                    "uuid": ctx.new_uuid(),
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "create",
                            "description": f"Draft ServiceRequest ({rule.tier.priority}): "
                            f"{route.code.display}",
                            "resource": _service_request(fired, route, subject, ctx.base),
                        }
                    ],
                }
            )

    if assessment.not_recorded:
        lines.append("")
        lines.append("**Not recorded**: " + ", ".join(assessment.not_recorded) + ".")
    if fired.related:
        lines.append("")
        lines.append("**Also noted (not counted)**")
        lines.extend(
            _record_line(r, lateral=rule.lateral, note=_related_note(r)) for r in fired.related
        )
    if assessment.not_interpretable:
        lines.append("")
        lines.append("**Not interpretable**")
        lines.extend(_not_interpretable_lines(assessment))
    if rule.id == "R-NO-RED-FLAG-DATA" and assessment.unreadable:
        lines.append("")
        noun = "resource" if assessment.unreadable == 1 else "resources"
        lines.append(f"{assessment.unreadable} {noun} could not be read: red flags may be missing.")
    if assessment.caveats:
        lines.append("")
        lines.append("**Caveats**: " + " ".join(assessment.caveats))
    lines.append("")
    lines.append(((rule.safety_net + " ") if rule.safety_net else "") + SAFETY_NET)
    lines.append("")
    lines.append(f"Source: {_md(rule.source.label)}.")
    lines.append(f"_{DISCLAIMER}_")

    card: dict[str, Any] = {
        "uuid": ctx.new_uuid(),
        "summary": _summary(rule.render_summary(route.wording)),
        "indicator": rule.tier.indicator,
        "detail": "\n".join(lines),
        "source": _source(rule.id, rule.name, rule.source.url, ctx.base),
        "suggestions": suggestions,
        "selectionBehavior": "at-most-one" if suggestions else None,
        "overrideReasons": [
            {"system": ctx.base + OVERRIDE_SYSTEM_PATH, "code": code, "display": display}
            for code, display in OVERRIDE_REASONS
        ],
        "extension": {EXTENSION_KEY: extension},
    }
    return _clean(card)  # type: ignore[no-any-return]


def minimal_card(fired: FiredRule, ctx: CardContext) -> dict[str, Any]:
    """The stand-in for a card that failed to build: indicator, summary, rule id, uuid (§1.1).

    Built from plain row data only, so it cannot fail the way the full card did.
    """
    rule = fired.rule
    return {
        "uuid": ctx.new_uuid(),
        "summary": _summary(f"{rule.name}: review now (full card unavailable)"),
        "indicator": rule.tier.indicator,
        "detail": f"The full card for {rule.id} could not be built; review the record. "
        f"{DISCLAIMER}",
        "source": {
            "label": RULE_SET_LABEL,
            "topic": {
                "system": ctx.base + RULE_SYSTEM_PATH,
                "code": rule.id,
                "display": rule.name,
            },
        },
        "extension": {EXTENSION_KEY: {"ruleId": rule.id, "tier": rule.tier.value}},
    }


# --------------------------------------------------------------------------- info card
def info_card(
    assessment: Assessment, ctx: CardContext, unsatisfied: Sequence[str]
) -> dict[str, Any] | None:
    """The data-quality card (no rule topic): unreadable resources, unsatisfied prefetch keys."""
    n = assessment.unreadable
    if not n and not unsatisfied:
        return None
    keys = ", ".join(unsatisfied)
    if n:
        noun = "resource" if n == 1 else "resources"
        summary = f"{n} {noun} could not be read: red flags may be missing"
    else:
        summary = f"Prefetch not available ({keys}): red flags may be missing"
    lines = []
    if n:
        lines.append(
            f"{n} resource{'s' if n != 1 else ''} could not be read and "
            f"{'were' if n != 1 else 'was'} skipped; the rest was evaluated. Red flags recorded "
            "in them may be missing from these cards."
        )
        lines.extend(f"- {_md(note)}" for note in assessment.unreadable_notes)
    if unsatisfied:
        lines.append(
            f"Prefetch not satisfied (and not fetched): {_md(keys)}. Data from these queries was "
            "not evaluated."
        )
    if assessment.not_interpretable:  # §2: named on every card, this one included
        lines.append("")
        lines.append("**Not interpretable**")
        lines.extend(_not_interpretable_lines(assessment))
    lines.append("")
    lines.append(f"_{DISCLAIMER}_")
    card = {
        "uuid": ctx.new_uuid(),
        "summary": _summary(summary),
        "indicator": Tier.ROUTINE.indicator,  # info
        "detail": "\n".join(lines),
        "source": {"label": RULE_SET_LABEL},
        "extension": {EXTENSION_KEY: {"unreadable": n, "unsatisfiedPrefetch": list(unsatisfied)}},
    }
    return _clean(card)  # type: ignore[no-any-return]


def build_cards(
    assessment: Assessment,
    *,
    settings: Settings,
    patient_id: str | None,
    unsatisfied_prefetch: Sequence[str] = (),
    new_uuid: Callable[[], str] = _new_uuid,
    rule_card_builder: RuleCardBuilder = build_rule_card,
) -> list[dict[str, Any]]:
    """Wire-ready CDS Hooks cards: one per fired rule (E, U, R, S then rule id), then the
    data-quality info card if any. Never raises for a card that fails to build: it is logged
    with its rule id and replaced by `minimal_card` (`rule_card_builder` is injectable so tests
    can prove it)."""
    ctx = CardContext(assessment, settings, patient_id, new_uuid)
    cards: list[dict[str, Any]] = []
    for fired in assessment.fired:
        try:
            cards.append(rule_card_builder(fired, ctx))
        except Exception as exc:  # §1.1: a failed card never drops the others
            log.error(
                "card build failed; minimal card issued",
                extra={"rule_id": fired.rule.id, "error": type(exc).__name__},
            )
            cards.append(minimal_card(fired, ctx))
    try:
        extra = info_card(assessment, ctx, unsatisfied_prefetch)
    except Exception as exc:  # the same guarantee for the info card
        log.error("info card build failed", extra={"error": type(exc).__name__})
        extra = {
            "uuid": new_uuid(),
            "summary": "Some data could not be read: red flags may be missing",
            "indicator": "info",
            "source": {"label": RULE_SET_LABEL},
        }
    if extra is not None:
        cards.append(extra)
    return cards
