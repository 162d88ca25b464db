"""Assessment -> wire-ready CDS Hooks 2.0 cards (clinical-rules.md §7; cds-hooks.md "Response").

Pure: dicts of JSON types only. One card per fired rule, ordered E, U, R, S then rule id, then an
info card (no rule topic) when resources were unreadable or prefetch keys unsatisfied or cut
short. A card that fails to build is logged (rule id only) and replaced by a minimal card: never
raises, never drops the other cards (§1.1). Optional fields are omitted, never sent as null,
"", [] or {}.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
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
from .rules import RULE_SET_LABEL, SUMMARY_LIMIT, Rule
from .scores import WellsResult

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


# The RFC 9562 variant digit (binary 10xx) that keeps a random hex digit's two low bits.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _time_ordered_uuids(batch: int) -> Iterator[str]:
    """Version-7 UUIDs (RFC 9562 5.7): Unix time in milliseconds, then 74 random bits.

    Time-ordered so that the cards of one answer, and of the answers after it, sit side by side
    in the store's primary-key index: a card write then touches a few pages at the index's end
    instead of one random page per card (bench/README.md, pass 7). Unique and unguessable by
    their 74 random bits (version 4 has 122); the time they show is the card's issue time,
    which the EHR that received it already knows.

    One os.urandom call and one clock reading per `batch` uuids; refills when a batch runs out,
    so it never stops.
    """
    while True:
        millis = f"{time.time_ns() // 1_000_000:012x}"
        head = f"{millis[:8]}-{millis[8:]}-7"
        digits = os.urandom(10 * batch).hex()
        for start in range(0, len(digits), 20):
            h = digits[start : start + 19]
            yield f"{head}{h[:3]}-{_VARIANT_DIGIT[h[3]]}{h[4:7]}-{h[7:]}"


@dataclass(frozen=True)
class CardContext:
    """What every card builder needs besides its fired rule."""

    assessment: Assessment
    settings: Settings
    patient_id: str | None
    new_uuid: Callable[[], str]
    # The cards of one answer cite many of the same records (a PE card repeats the DVT card's
    # evidence), so each record's line and wire form are built once per answer. Keyed by id():
    # each entry holds its record, so no id is reused while the context lives.
    _evidence: dict[tuple[int, bool], tuple[Finding, str, dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def evidence(
        self, records: Sequence[Finding], lateral: bool
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The detail's lines and the extension's `evidence` list for a card's evidence."""
        lines: list[str] = []
        wires: list[dict[str, Any]] = []
        for record in records:
            # `lateral` only changes the line of a sided record with no side: the others read
            # the same on every card.
            names_no_side = _names_no_side(record, lateral)
            key = (id(record), names_no_side)
            entry = self._evidence.get(key)
            if entry is None:
                line = _record_line(record, lateral=names_no_side)
                entry = self._evidence[key] = (record, line, _evidence_wire(record))
            lines.append(entry[1])
            wires.append(dict(entry[2]))  # each card gets its own dict
        return lines, wires

    @property
    def base(self) -> str:
        return self.settings.fhir_base.rstrip("/")


RuleCardBuilder = Callable[[FiredRule, CardContext], dict[str, Any]]


# --------------------------------------------------------------------------- text helpers
_MD_SPECIAL_CHARS = "\\`*_[]<>#|"
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in _MD_SPECIAL_CHARS})
# str.translate costs over a microsecond even when nothing changes, a regex miss a tenth of that,
# and most EHR text has nothing to escape.
_HAS_MD_SPECIAL = re.compile(f"[{re.escape(_MD_SPECIAL_CHARS)}]").search


def _md(text: str) -> str:
    """Escape EHR-supplied text so it cannot inject markdown (links, emphasis, tables)."""
    return text.translate(_MD_SPECIAL) if _HAS_MD_SPECIAL(text) else text


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


def _names_no_side(record: Finding, lateral: bool) -> bool:
    return lateral and record.side is Side.UNKNOWN and record.finding_id in SIDED_FINDINGS


def _side_text(record: Finding, lateral: bool) -> str:
    if record.side is not Side.UNKNOWN:
        return str(record.side)  # a StrEnum's str() is its value, without `.value`'s lookup
    if _names_no_side(record, lateral):
        return "side not recorded (counted as one-sided)"
    return ""


# What a record's tags add to its line, in the order the line names them.
_TAG_NOTES: tuple[tuple[str, str], ...] = (
    (TAG_NOT_DEEP_VEIN, "tenderness not localised to the deep veins"),
    (TAG_HEART_RATE, "heart rate over 100 alone"),
    (TAG_AT_ANY_SITE, "muscle pain, site not the calf"),
)


def _record_line(record: Finding, *, lateral: bool, note: str = "") -> str:
    details = [_md(record.reference), _date(record)]
    if value := _value(record):
        details.append(_md(value))
    if side := _side_text(record, lateral):
        details.append(side)
    if not record.present:
        details.append("recorded absent")
    if record.tags:
        details.extend(text for tag, text in _TAG_NOTES if tag in record.tags)
    if not record.interpretable:
        details.append("not interpretable")
    if note:
        details.append(note)
    return f"- {_md(_label(record))} ({record.finding_id}): " + ", ".join(details)


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
    out: dict[str, Any] = {"finding": record.finding_id}
    if record.reference:
        out["reference"] = record.reference
    if record.when is not None:
        out["date"] = record.when.isoformat()
    if value := _value(record):
        out["value"] = value
    out["side"] = str(record.side)
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


# --------------------------------------------------------------------------- rule cards
@dataclass(frozen=True)
class _RuleText:
    """What a rule's card says whatever the patient, in one route profile and FHIR base.

    The same for every card of the rule, so formatted, escaped and looked up once, then shared:
    it holds immutable values only, and every card builds dicts of its own from them.
    """

    rule: Rule
    route: Route
    base: str
    tier: str
    indicator: str
    priority: str | None
    summary: str
    why: str
    next_step: str  # the rule's step; the Wells step, then the route's note, follow
    route_note: str  # " " + the route's note, or ""
    referral: str  # "" when the route drafts no ServiceRequest
    closing: str  # the detail's last lines: safety net, source, disclaimer
    request_label: str  # the referral suggestion's label and action; "" when the route
    request_description: str  # drafts no ServiceRequest


def _build_rule_text(rule: Rule, route: Route, base: str) -> _RuleText:
    safety_net = ((rule.safety_net + " ") if rule.safety_net else "") + SAFETY_NET
    request_label = request_description = ""
    if route.code is not None:
        request_label = f"Draft referral: {route.code.display}"
        request_description = f"Draft ServiceRequest ({rule.tier.priority}): {route.code.display}"
    return _RuleText(
        rule=rule,
        route=route,
        base=base,
        tier=rule.tier.value,
        indicator=rule.tier.indicator,
        priority=rule.tier.priority,
        summary=_summary(rule.render_summary(route.wording)),
        why=f"**Why ({_md(rule.name)})**",
        next_step="**What to do next**: " + rule.next_step,
        route_note=" " + route.note if route.note else "",
        referral=f"Referral: {route.wording}." if route.creates_request else "",
        closing="\n".join(
            ("", safety_net, "", f"Source: {_md(rule.source.label)}.", f"_{DISCLAIMER}_")
        ),
        request_label=request_label,
        request_description=request_description,
    )


_RULE_TEXTS: dict[tuple[str, str, str], _RuleText] = {}
_RULE_TEXTS_LIMIT = 1024  # a deployment needs rules x profiles; the cap bounds tests' odd rows


def _rule_text(rule: Rule, settings: Settings) -> _RuleText:
    key = (rule.id, settings.route_profile, settings.fhir_base)
    text = _RULE_TEXTS.get(key)
    if text is None or text.rule is not rule:  # a test may build its own row under a known id
        if len(_RULE_TEXTS) >= _RULE_TEXTS_LIMIT:
            _RULE_TEXTS.clear()
        route = route_for(rule.route, settings.route_profile)
        text = _build_rule_text(rule, route, settings.fhir_base.rstrip("/"))
        _RULE_TEXTS[key] = text
    return text


def _source(text: _RuleText) -> dict[str, Any]:
    rule = text.rule
    source: dict[str, Any] = {"label": RULE_SET_LABEL}
    if rule.source.url:
        source["url"] = rule.source.url
    source["topic"] = {
        "system": text.base + RULE_SYSTEM_PATH,
        "code": rule.id,
        "display": rule.name,
    }
    return source


def _override_reasons(base: str) -> list[dict[str, Any]]:
    system = base + OVERRIDE_SYSTEM_PATH
    return [
        {"system": system, "code": code, "display": display} for code, display in OVERRIDE_REASONS
    ]


def _subject(fired: FiredRule, patient_id: str | None) -> str | None:
    if patient_id:
        return f"Patient/{patient_id}"
    return next((r.subject for r in fired.evidence if r.subject), None)


def _service_request(fired: FiredRule, text: _RuleText, subject: str) -> dict[str, Any]:
    route, base = text.route, text.base
    assert route.code is not None
    reasons = list(dict.fromkeys(r.reference for r in fired.evidence if r.reference))
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
    }
    if text.priority is not None:  # a tier without a request priority sends none, not null
        resource["priority"] = text.priority
    resource["category"] = [
        {"coding": [coding(route.category, base)], "text": route.category.display}
    ]
    resource["code"] = {"coding": [coding(route.code, base)], "text": route.code.display}
    resource["subject"] = {"reference": subject}
    if reasons:
        resource["reasonReference"] = [{"reference": ref} for ref in reasons]
    if route.performer is not None:
        resource["performerType"] = {
            "coding": [coding(route.performer, base)],
            "text": route.performer.display,
        }
    return resource


def _suggestion(
    fired: FiredRule, text: _RuleText, subject: str, new_uuid: Callable[[], str]
) -> dict[str, Any]:
    return {
        "label": text.request_label,
        "uuid": new_uuid(),
        "isRecommended": True,
        "actions": [
            {
                "type": "create",
                "description": text.request_description,
                "resource": _service_request(fired, text, subject),
            }
        ],
    }


_NO_SUBJECT = (
    "No patient reference in the request or the triggering resources: the referral could not be "
    "drafted here; refer manually."
)
_WELLS_MARKS = {"present": "present", "absent": "absent"}


def _wells_lines(wells: WellsResult) -> list[str]:
    lines = ["", f"**Wells score (two-level, NICE NG158)**: {wells.statement}"]
    for item in wells.items:
        mark = _WELLS_MARKS.get(item.status, "not recorded")
        note = f" ({item.note})" if item.note else ""
        lines.append(f"- {item.label} ({item.points:+d}): {mark}{note}")
    return lines


def _rule_detail(
    fired: FiredRule,
    assessment: Assessment,
    text: _RuleText,
    evidence_lines: list[str],
    *,
    drafted: bool,
) -> str:
    """The card's markdown; `drafted`: a ServiceRequest suggestion goes with it."""
    rule = fired.rule
    lines: list[str] = []
    if rule.id == "R-NO-RED-FLAG-DATA":
        lines.append("**No red flags found in the recorded data.**")
        lines.extend(
            "- PE sign present, assess for pulmonary embolism: "
            + _record_line(record, lateral=False)[2:]
            for record in assessment.pe_signs
        )
        lines.append("")
    lines.append(text.why)
    lines.extend(evidence_lines)
    if fired.wells is not None:
        lines.extend(_wells_lines(fired.wells))
    if fired.d_dimer is not None:
        lines.append("")
        lines.append(f"**D-dimer**: {fired.d_dimer.statement}")
    lines.append("")
    next_step = text.next_step
    if fired.wells is not None:
        next_step += " " + fired.wells.next_step
    lines.append(next_step + text.route_note)
    if text.route.creates_request:
        lines.append(text.referral)
        if not drafted:
            lines.append(_NO_SUBJECT)
    lines.extend(_notes_lines(fired, assessment))
    lines.append(text.closing)
    return "\n".join(lines)


def _notes_lines(fired: FiredRule, assessment: Assessment) -> list[str]:
    """What the card names besides its evidence: gaps, other records, unreadable data."""
    rule = fired.rule
    lines: list[str] = []
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
    return lines


def _rule_extension(
    fired: FiredRule, assessment: Assessment, text: _RuleText, evidence: list[dict[str, Any]]
) -> dict[str, Any]:
    rule = fired.rule
    extension: dict[str, Any] = {"ruleId": rule.id, "tier": text.tier, "route": rule.route}
    if evidence:
        extension["evidence"] = evidence
    if assessment.not_recorded:
        extension["notRecorded"] = list(assessment.not_recorded)
    if fired.wells is not None:
        extension["wells"] = fired.wells.as_wire()
    return extension


def build_rule_card(fired: FiredRule, ctx: CardContext) -> dict[str, Any]:
    """The full card for one fired rule (§7). May raise on a bug; build_cards contains it.

    Built without `_clean`: each optional field is added only when it has content, and the
    fields from rule rows and routes are proven non-empty for every row by tests/test_cards.py.
    """
    rule = fired.rule
    text = _rule_text(rule, ctx.settings)
    subject = _subject(fired, ctx.patient_id) if text.route.creates_request else None
    suggestions = [] if subject is None else [_suggestion(fired, text, subject, ctx.new_uuid)]
    lines, evidence = ctx.evidence(fired.evidence, rule.lateral)
    card: dict[str, Any] = {
        "uuid": ctx.new_uuid(),
        "summary": text.summary,
        "indicator": text.indicator,
        "detail": _rule_detail(fired, ctx.assessment, text, lines, drafted=subject is not None),
        "source": _source(text),
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    card["overrideReasons"] = _override_reasons(text.base)
    card["extension"] = {EXTENSION_KEY: _rule_extension(fired, ctx.assessment, text, evidence)}
    return card


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
    assessment: Assessment,
    ctx: CardContext,
    unsatisfied: Sequence[str],
    incomplete: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The data-quality card (no rule topic): unreadable resources, unsatisfied prefetch keys,
    and queries whose answer was cut short (`incomplete`: key -> what was not read)."""
    n = assessment.unreadable
    incomplete = incomplete or {}
    if not n and not unsatisfied and not incomplete:
        return None
    keys = ", ".join(unsatisfied)
    if n:
        noun = "resource" if n == 1 else "resources"
        summary = f"{n} {noun} could not be read: red flags may be missing"
    elif unsatisfied:
        summary = f"Prefetch not available ({keys}): red flags may be missing"
    else:
        summary = f"Data incomplete ({', '.join(incomplete)}): red flags may be missing"
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
    if incomplete:
        lines.append(
            "Incomplete queries: not every result was read, so red flags recorded in the "
            "results not read may be missing from these cards."
        )
        lines.extend(f"- {_md(key)}: {_md(note)}" for key, note in incomplete.items())
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
        "extension": {
            EXTENSION_KEY: {
                "unreadable": n,
                "unsatisfiedPrefetch": list(unsatisfied),
                "incompletePrefetch": list(incomplete),
            }
        },
    }
    return _clean(card)  # type: ignore[no-any-return]


def build_cards(
    assessment: Assessment,
    *,
    settings: Settings,
    patient_id: str | None,
    unsatisfied_prefetch: Sequence[str] = (),
    incomplete_prefetch: Mapping[str, str] | None = None,
    new_uuid: Callable[[], str] | None = None,
    rule_card_builder: RuleCardBuilder = build_rule_card,
) -> list[dict[str, Any]]:
    """Wire-ready CDS Hooks cards: one per fired rule (E, U, R, S then rule id), then the
    data-quality info card if any. Never raises for a card that fails to build: it is logged
    with its rule id and replaced by `minimal_card` (`rule_card_builder` is injectable so tests
    can prove it). `new_uuid` None: time-ordered version-7 uuids."""
    if new_uuid is None:
        # A card and its suggestion each take one, the info card one more.
        new_uuid = partial(next, _time_ordered_uuids(2 * len(assessment.fired) + 1))
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
        extra = info_card(assessment, ctx, unsatisfied_prefetch, incomplete_prefetch)
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
