"""The rule table in words: each rule's criteria, variants, routes, codes and source.

Pure. Generated from `core.rules` and the finding catalog, never written by hand: it feeds
`GET /rules`, the console's rules page, `calf-cds rules` and docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import findings as cat
from .i18n import ENGLISH, N_, Translator
from .policy import DEFAULT_FHIR_BASE
from .routes import PROFILES
from .rules import (
    CALF_SYMPTOM,
    LEG_SYMPTOM,
    MUSCLE_PAIN,
    PAINFUL_COLD_LIMB,
    PRINCIPLE_7_SIGNS,
    RULE_SET_VERSION,
    RULES,
    AllOf,
    Always,
    AnyOf,
    Bilateral,
    Condition,
    DDimer,
    Group,
    Measure,
    NoRuleOfTiers,
    Not,
    NotInterpretable,
    Present,
    Recorded,
    RecordedClear,
    Rule,
    RuleFires,
    SameSide,
    SelfCareAllowed,
    Unilateral,
    Wells,
)

_NAMED: list[tuple[Condition, str]] = [
    (CALF_SYMPTOM, N_("a calf symptom (calf pain, leg or ankle swelling, or cramp)")),
    (LEG_SYMPTOM, N_("a leg symptom (a calf symptom, sciatica or claudication)")),
    (MUSCLE_PAIN, N_("muscle pain (calf pain, or muscle pain at any site)")),
    (
        PAINFUL_COLD_LIMB,
        N_("a painful cold leg (coded, or a cold leg with calf pain on the same side)"),
    ),
    (PRINCIPLE_7_SIGNS, N_("a sign of principle 7")),
]
_TAG_WORDS = {
    "motor": N_("motor: weakness"),
    "sensory": N_("sensory: numbness or paraesthesia"),
    "heart-rate": N_("heart rate over 100"),
    "spo2": N_("SpO2 below 92 %"),
    "pain-out-of-proportion": N_("pain out of proportion"),
    "superficial-vein-cord": N_("a superficial vein cord"),
    "sited-outside-leg": N_("sited outside the leg"),
}
_DDIMER = {
    "raised": N_("a raised D-dimer (at or over the cut-off, or flagged by the lab)"),
    "positive": N_("a positive D-dimer"),
    "negative": N_("a usable negative D-dimer"),
    "all-negative": N_("at least one D-dimer within 72 h, every one negative"),
}
_WELLS = {
    "likely": N_("Wells likely (2 or more)"),
    "incomplete": N_("Wells incomplete"),
    "unlikely": N_("Wells complete and 1 or less"),
}
_GROUPS = {
    "pregnant": N_("pregnant or postpartum (6 weeks)"),
    "under-18": N_("under 18"),
    "anticoagulated": N_("on an anticoagulant"),
    "any": N_("in a principle-5 group (under 18, pregnant or postpartum, anticoagulated)"),
}


def _in_running_text(name: str) -> str:
    """A name mid-sentence: its first letter lower-cased, unless it starts an abbreviation
    ("ABI", "DVT"), which keeps its capitals."""
    return name if name[1:2].isupper() else name[:1].lower() + name[1:]


def _finding_name(finding_id: str, t: Translator) -> str:
    return _in_running_text(t.gettext(cat.FINDINGS[finding_id].name))


def _code_words(finding_id: str, code: str, t: Translator) -> str:
    """A catalog code of the finding by its clinical term ("dark urine"), not its code."""
    for code_def in cat.FINDINGS[finding_id].codes:
        if code_def.code == code:
            return _in_running_text(t.gettext(code_def.term or code_def.display))
    return code


def words(node: Condition, t: Translator = ENGLISH) -> str:
    """A condition in words, e.g. "a calf symptom and (leg swelling, one side or side unknown
    or ...)"."""
    for named, text in _NAMED:
        if node == named:
            return t.gettext(text)
    match node:
        case Bilateral():
            return t.gettext(N_("{finding} on both sides")).format(finding=_present_words(node, t))
        case Unilateral():
            return t.gettext(N_("{finding}, one side or side unknown")).format(
                finding=_present_words(node, t)
            )
        case Present():
            return _present_words(node, t)
        case Recorded():
            return t.gettext(N_("{finding} recorded")).format(
                finding=_finding_name(node.finding, t)
            )
        case Measure():
            what = t.gettext(N_("lowest {finding}") if node.lowest else "{finding}").format(
                finding=_finding_name(node.finding, t)
            )
            unit = " × " + t.gettext(N_("ULN")) if node.finding == "F-CK" else ""
            # The digits of the rule, with the language's decimal sign (0.9; Russian 0,9).
            written = f"{node.threshold:g}"
            threshold = t.number(node.threshold, len(written.partition(".")[2]))
            return f"{what} {node.op.replace('<=', '≤').replace('>=', '≥')} {threshold}{unit}"
        case SameSide():
            first = t.join([words(item, t) for item in node.first], t.gettext(N_("or")))
            second = t.join([words(item, t) for item in node.second], t.gettext(N_("or")))
            return t.gettext(N_("{first} with {second} on the same side")).format(
                first=first, second=second
            )
        case AllOf():
            return t.join([_nested(item, t) for item in node.items], t.gettext(N_("and")))
        case AnyOf():
            return t.gettext(N_("any of: {items}")).format(
                items="; ".join(words(item, t) for item in node.items)
            )
        case Not():
            return t.gettext(N_("not ({item})")).format(item=words(node.item, t))
        case RuleFires():
            return t.gettext(N_("{rules} fires")).format(
                rules=t.join(list(node.rule_ids), t.gettext(N_("or")))
            )
        case NoRuleOfTiers():
            return t.gettext(N_("no other rule of tier {tiers} fires")).format(
                tiers=t.join([tier.value for tier in node.tiers], t.gettext(N_("or")))
            )
        case SelfCareAllowed():
            return t.gettext(
                N_(
                    "no E, U or R rule fires, no one-sided leg or ankle swelling "
                    "and no sign of principle 7"
                )
            )
        case Group():
            return t.gettext(_GROUPS[node.name])
        case Wells():
            return t.gettext(_WELLS[node.classification])
        case DDimer():
            return t.gettext(_DDIMER[node.state])
        case NotInterpretable():
            return t.gettext(
                N_("a D-dimer, CK, potassium or temperature that could not be interpreted")
            )
        case RecordedClear():
            groups = [
                t.join([_finding_name(f, t) for f in group], t.gettext(N_("or")))
                for group in node.groups
            ]
            return t.gettext(N_("{groups} all recorded normal or absent")).format(
                groups="; ".join(groups)
            )
        case Always():
            return t.gettext(N_("otherwise"))
    raise TypeError(type(node).__name__)


def _nested(node: Condition, t: Translator) -> str:
    text = words(node, t)
    return (
        f"({text})" if isinstance(node, AnyOf) and not any(node == n for n, _ in _NAMED) else text
    )


def _present_words(node: Present, t: Translator) -> str:
    text = _finding_name(node.finding, t)
    notes = [t.gettext(_TAG_WORDS.get(tag, tag)) for tag in node.with_tags]
    notes += [
        t.gettext(N_("not {what}")).format(what=t.gettext(_TAG_WORDS.get(tag, tag)))
        for tag in node.without_tags
    ]
    notes += [_code_words(node.finding, code, t) for code in node.codes]
    notes += [
        t.gettext(N_("other than {what}")).format(what=_code_words(node.finding, code, t))
        for code in node.without_codes
    ]
    return f"{text} ({', '.join(notes)})" if notes else text


@dataclass(frozen=True)
class RuleDescription:
    id: str
    name: str
    tier: str
    routes: tuple[str, ...]
    topic: str
    criteria: str
    variants: tuple[tuple[str, str], ...]  # (variant, when)
    source: str
    url: str
    codes: tuple[tuple[str, str, str, str], ...]  # (finding id, system, code, display)


def _codes(rule: Rule) -> tuple[tuple[str, str, str, str], ...]:
    rows: list[tuple[str, str, str, str]] = []
    for finding_id in rule.findings_used:
        finding = cat.FINDINGS[finding_id]
        rows += [(finding_id, c.system, c.code, c.display) for c in finding.codes]
        rows += [
            (finding_id, m.system, m.code, m.display)
            for m in cat.MEASUREMENT_LIST
            if finding_id in m.finding_ids
        ]
    return tuple(dict.fromkeys(rows))


def describe(rule: Rule, t: Translator = ENGLISH) -> RuleDescription:
    routes = tuple(dict.fromkeys([rule.route, *(v.route for v in rule.variants if v.route)]))
    return RuleDescription(
        id=rule.id,
        name=t.gettext(rule.name),
        tier=rule.tier.value,
        routes=routes,
        topic=rule.topic,
        criteria=words(rule.condition, t),
        variants=tuple(
            (v.name, words(v.condition, t)) for v in rule.variants if len(rule.variants) > 1
        ),
        source=t.gettext(rule.source.label),
        url=rule.source.url,
        codes=_codes(rule),
    )


def catalog(t: Translator = ENGLISH) -> list[RuleDescription]:
    """Every rule, in display order (tier, then id)."""
    return [describe(rule, t) for rule in RULES]


def rule_json(rule: RuleDescription, fhir_base: str) -> dict[str, Any]:
    """One rule as `GET /rules` and `calf-cds rules --json` describe it
    (schemas.RuleCatalogEntrySchema)."""
    source: dict[str, str] = {"label": rule.source}
    if rule.url:
        source["url"] = rule.url
    return {
        "id": rule.id,
        "name": rule.name,
        "tier": rule.tier,
        "routes": list(rule.routes),
        "topic": rule.topic,
        "criteria": rule.criteria,
        "variants": [{"name": name, "when": when} for name, when in rule.variants],
        "source": source,
        "codes": [
            {
                "finding": f,
                "system": cat.wire_system(system, fhir_base),
                "code": code,
                "display": display,
            }
            for f, system, code, display in rule.codes
        ],
    }


def rules_document(t: Translator, fhir_base: str) -> dict[str, Any]:
    """The rule catalog in `t`'s language: `{"ruleSet": ..., "rules": [...]}`."""
    return {
        "ruleSet": f"calf-cds {RULE_SET_VERSION}",
        "rules": [rule_json(d, fhir_base) for d in catalog(t)],
    }


def markdown() -> str:
    """docs/rules.md: every rule with tier, routes, criteria in words, codes and source."""
    lines = [
        "# The rule set (generated)",
        "",
        "Generated from the rule table (`cds/core/rules.py`) and the finding catalog",
        "(`cds/core/findings.py`) by `calf-cds rules --markdown`; `tests/test_rules_doc.py`",
        "keeps it current. Tiers: E emergency, U urgent, R routine, S self-care.",
        "",
        "Terms used below. A *principle-5 group*: under 18, pregnant or postpartum (up to 6",
        "weeks), or anticoagulated; the Wells scores and the D-dimer do not apply, and the DVT",
        "and PE cards carry the group's own steps. A *principle-7 sign*: a cold, pulseless or",
        "cold painful leg (either leg), leg cyanosis, a PE sign, sensory or motor loss of the",
        "leg without sciatica, or a D-dimer, CK, potassium or temperature that could not be",
        'interpreted; while one is recorded no self-care card fires and no card says "no red',
        'flags".',
        "",
        "| rule | name | tier | route (default profile) |",
        "|---|---|---|---|",
    ]
    described = catalog()
    for d in described:
        routes = ", ".join(f"`{r}`" for r in d.routes)
        lines.append(f"| [{d.id}](#{d.id.lower()}) | {d.name} | {d.tier} | {routes} |")
    for d in described:
        lines += ["", f"## {d.id}", "", f"**{d.name}**: tier {d.tier}, topic {d.topic}.", ""]
        lines.append(f"- **Fires when**: {d.criteria}.")
        for name, when in d.variants:
            lines.append(f"- **Variant `{name}`** when {when}.")
        for route in d.routes:
            texts = {PROFILES[p][route].text for p in PROFILES if PROFILES[p][route].text}
            if texts:
                lines.append(f"- **Route `{route}`**: " + " / ".join(sorted(texts)) + ".")
        source = f"[{d.source}]({d.url})" if d.url else d.source
        lines.append(f"- **Source**: {source}.")
        if d.codes:
            lines += ["", "| finding | system | code | display |", "|---|---|---|---|"]
            lines += [
                f"| {finding} | {cat.wire_system(system, DEFAULT_FHIR_BASE)} | {code} | {display} |"
                for finding, system, code, display in d.codes
            ]
    return "\n".join(lines) + "\n"
