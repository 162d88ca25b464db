"""The plan -> typed CDS Hooks cards (clinical-rules.md §7, rule set 2026.2).

Pure. One card per planned rule (§8 order), then the data-quality card when data was missing
or unreadable. Texts come from `core.wording` and are rendered through a `Translator`. A card
that fails to build is logged with its rule id and replaced by a minimal card (§1.1).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from . import wording
from .compose import Planned, compose, safety_net_topic
from .engine import Assessment, FiredRule
from .findings import FINDINGS
from .findingset import FindingSet, timestamp
from .i18n import ENGLISH, N_, Translator
from .measurements import ANALYTE_NAMES, decimals_for
from .model import (
    TAG_COLD,
    TAG_HEART_RATE,
    TAG_MOTOR,
    TAG_NOT_DEEP_VEIN,
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_PALLOR,
    TAG_POSTPARTUM,
    TAG_SENSORY,
    TAG_SPO2,
    TAG_SUPPORTING,
    Card,
    CardExtension,
    Code,
    EvidenceItem,
    Finding,
    Link,
    Measurement,
    Referral,
    Side,
    SourceRef,
    Suggestion,
    Tier,
)
from .routes import route_for, wire_code
from .rules import RULE_SET_VERSION, Rule
from .scores import ABSENT, INCOMPLETE, LIKELY, NEGATIVE, POSITIVE, DDimerResult
from .units import display_unit, unit_of_unitless

log = logging.getLogger(__name__)

SUMMARY_LIMIT = 140  # CDS Hooks 2.0: summary < 140 characters
EVIDENCE_CAP = 10  # evidence lines listed per card; the rest are counted
RULE_SYSTEM_PATH = "/CodeSystem/rule"
OVERRIDE_SYSTEM_PATH = "/CodeSystem/override-reason"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-referred", N_("Already referred")),
    ("patient-declined", N_("Patient declined")),
    ("alternative-diagnosis-more-likely", N_("Alternative diagnosis more likely")),
    ("not-clinically-relevant", N_("Not clinically relevant")),
)
DISCLAIMER = N_("Decision support only; clinical judgement applies.")
SMART_LINK_LABEL = N_("Complete the red-flag check")

# Findings sited on one leg: on venous and arterial cards (and R-CELLULITIS) their side is
# shown, and a missing side reads "side not recorded (counted as one-sided)" (§7.2.4).
# The signs whose side a summary's {side} names (§7.4), ahead of the symptoms beside them.
_SIGN_FINDINGS = frozenset(
    {
        "F-CYANOSIS", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB", "F-PULSELESS",
        "F-SENSORY-MOTOR-LOSS", "F-ALI-DX",
    }
)  # fmt: skip
SIDED_FINDINGS = frozenset(
    {
        "F-CALF-PAIN", "F-LEG-SWELLING", "F-ANKLE-SWELLING", "F-CALF-SWELLING-3CM",
        "F-ENTIRE-LEG-SWOLLEN", "F-PITTING-EDEMA", "F-DEEP-VEIN-TENDERNESS", "F-COLLATERAL-VEINS",
        "F-ERYTHEMA", "F-WARMTH", "F-CYANOSIS", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB",
        "F-PULSELESS", "F-SENSORY-MOTOR-LOSS", "F-SVT", "F-CELLULITIS", "F-COMPARTMENT",
        "F-GANGRENE", "F-REST-PAIN", "F-ABI", "F-SKIN-DISCOLOURATION",
    }
)  # fmt: skip
_SIDE_WORDS = {
    Side.LEFT: N_("left"),
    Side.RIGHT: N_("right"),
    Side.BILATERAL: N_("both"),
    Side.UNKNOWN: N_("side not recorded"),
}
_PRIORITY_WORDS = {"stat": N_("emergency"), "urgent": N_("urgent"), "routine": N_("routine")}
# {calf symptom} and {symptom} (§7.4): the first present, in this order.
_CALF_SYMPTOMS = (
    ("F-CALF-PAIN", N_("calf pain"), N_("Calf pain")),
    ("F-LEG-SWELLING", N_("leg swelling"), N_("Leg swelling")),
    ("F-ANKLE-SWELLING", N_("ankle swelling"), N_("Ankle swelling")),
    ("F-CRAMP", N_("leg cramps"), N_("Leg cramps")),
)
_LEG_SYMPTOMS = (
    *_CALF_SYMPTOMS,
    ("F-RADICULAR", N_("sciatica"), N_("Sciatica")),
    ("F-CLAUDICATION", N_("claudication"), N_("Claudication")),
    ("F-NEUROGENIC-CLAUDICATION", N_("spinal claudication"), N_("Spinal claudication")),
)
# {sign} (§7.4): PE signs in this order, by code (measured signs by tag).
_PE_SIGN_ORDER = ("spo2", "267036007", "29857009", "66857006", "271594007", "3415004", "heart-rate")
_PE_SIGN_WORDS = {
    "267036007": N_("breathlessness"),
    "29857009": N_("chest pain"),
    "66857006": N_("haemoptysis"),
    "271594007": N_("syncope"),
    "3415004": N_("cyanosis"),
}
_DVT_TRIGGER_FINDINGS = frozenset(
    {
        "F-LEG-SWELLING", "F-ANKLE-SWELLING", "F-CALF-SWELLING-3CM", "F-ENTIRE-LEG-SWOLLEN",
        "F-PITTING-EDEMA", "F-DEEP-VEIN-TENDERNESS", "F-COLLATERAL-VEINS", "F-ERYTHEMA",
        "F-CELLULITIS", "F-D-DIMER", "F-CYANOSIS",
    }
)  # fmt: skip
# {cause} and {electrolyte} (§7.4): analytes named in running text.
_LOWER_ANALYTES = {
    "potassium": N_("potassium"),
    "magnesium": N_("magnesium"),
    "calcium": N_("calcium"),
    "tsh": N_("TSH"),
}
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|"})


def md(text: str) -> str:
    """Escape EHR-supplied text so it cannot inject markdown (links, emphasis, tables)."""
    return text.translate(_MD_SPECIAL)


def time_ordered_uuids() -> Iterator[str]:
    """Version-7 UUIDs (RFC 9562 5.7): Unix milliseconds, then 74 random bits; time-ordered so
    the store's primary-key index grows at its end."""
    while True:
        millis = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = (millis << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64
        value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
        hexed = f"{value:032x}"
        yield f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


@dataclass(frozen=True)
class CardRequest:
    """What the cards need besides the assessment: who, where, in which language."""

    patient_id: str | None = None
    translator: Translator = ENGLISH
    smart_launch_url: str | None = None  # the red-flag check app's launch URL, when enabled
    reference_time: datetime | None = None  # an evaluation time the request asked for
    hook_instance: str | None = None
    unsatisfied_prefetch: tuple[str, ...] = ()
    incomplete_queries: tuple[tuple[str, str], ...] = ()  # (query key, reason)
    new_uuid: Callable[[], str] = field(default_factory=lambda: time_ordered_uuids().__next__)


# --------------------------------------------------------------------------- value text
def _decimals(m: Measurement) -> int:
    return decimals_for(m.analyte, display_unit(m.sent_unit))


def value_text(m: Measurement, t: Translator) -> str:
    """A value as a card shows it (§7.2.3), in the unit sent: "650 ng/mL FEU", "38.9 °C"."""
    if m.sent_value is None:
        return t.gettext(N_("positive")) if m.value is None else t.number(m.value, 2)
    if m.sent_unit is not None:
        unit = display_unit(m.sent_unit)
    else:  # read in full only when every accepted unit gives the same number
        unit = unit_of_unitless(m.analyte) if m.value is not None else ""
    number = t.number(m.sent_value, _decimals(m))
    text = f"{m.comparator or ''}{number}"
    if unit is None:  # an unknown unit: shown as sent, cut to 12 characters
        text += f" {md((m.sent_unit or '')[:12])}"
    elif unit:
        shown = t.gettext(unit)
        text += shown if unit == "/min" else f" {shown}"  # "108/min", as clinicians write it
    if m.basis:
        text += f" {m.basis}"
    if m.analyte == "ck" and m.value is not None:
        multiple = t.number(m.value, 1 if m.value < 10 else 0)
        text += " " + t.gettext(N_("({multiple} × ULN)")).format(multiple=multiple)
    return text


def _side_text(record: Finding, lateral: bool, t: Translator) -> str:
    if record.side is not Side.UNKNOWN:
        return t.gettext(_SIDE_WORDS[record.side])
    if lateral and record.finding_id in SIDED_FINDINGS:
        return t.gettext(N_("side not recorded (counted as one-sided)"))
    return ""


def _date_text(record: Finding, t: Translator) -> str:
    return t.date(record.when.date()) if record.when else t.gettext(N_("undated"))


def record_line(record: Finding, t: Translator, *, lateral: bool, note: str = "") -> str:
    """One finding as a "Why" line: name, value, side, date, resource (§7.3)."""
    parts = [t.gettext(record.name)]
    if record.measurement is not None and record.interpretable:
        parts[0] += " " + value_text(record.measurement, t)
    elif record.measurement is not None:
        parts[0] += " " + t.gettext(N_("{value}: not interpretable")).format(
            value=value_text(record.measurement, t)
        )
    if not record.present and record.measurement is None:
        parts[0] += ": " + t.gettext(N_("absent"))
    if side := _side_text(record, lateral, t):
        parts.append(side)
    parts.append(_date_text(record, t))
    if TAG_NOT_DEEP_VEIN in record.tags:
        parts.append(t.gettext(N_("calf tenderness, not documented along the deep veins")))
    if note:
        parts.append(note)
    return f"{', '.join(parts)} ({md(record.reference)})"


# --------------------------------------------------------------------------- placeholders
@dataclass
class _Slots:
    """The §7.4 placeholders of one card, each computed when its template asks for it."""

    fired: FiredRule
    assessment: Assessment
    t: Translator
    priority: str | None

    @property
    def fs(self) -> FindingSet:
        return self.assessment.findings

    def _first_present(self, order: tuple[tuple[str, str, str], ...], capital: bool) -> str:
        for finding_id, lower, upper in order:
            if self.fs.present(finding_id):
                return self.t.gettext(upper if capital else lower)
        return self.t.gettext(order[0][2] if capital else order[0][1])

    def _more(self, items: list[str], limit: int) -> str:
        """At most `limit` items joined by "and"; more: the first + "and N more" (§7.1)."""
        if len(items) <= limit:
            return self.t.join(items, self.t.gettext(N_("and")))
        rest = len(items) - 1
        return (
            items[0]
            + " "
            + self.t.ngettext(N_("and {n} more"), N_("and {n} more"), rest).format(n=rest)
        )

    def side(self) -> str:
        sided = [r for r in self.fired.evidence if r.finding_id in SIDED_FINDINGS]
        # The summary names the side of the sign ("Cold leg (right)"), not of every symptom.
        signs = [r for r in sided if r.finding_id in _SIGN_FINDINGS and r.side is not Side.UNKNOWN]
        known = {r.side for r in signs or sided} - {Side.UNKNOWN}
        if Side.BILATERAL in known or {Side.LEFT, Side.RIGHT} <= known:
            return self.t.gettext(_SIDE_WORDS[Side.BILATERAL])
        if known:
            return self.t.gettext(_SIDE_WORDS[next(iter(known))])
        return self.t.gettext(_SIDE_WORDS[Side.UNKNOWN])

    def pe_signs(self) -> list[str]:
        words: dict[str, str] = {}
        for record in self.fs.standing_present("F-PE-SYMPTOM"):
            m = record.measurement
            if TAG_SPO2 in record.tags and m is not None:
                words.setdefault("spo2", "SpO2 " + value_text(m, self.t))
            elif TAG_HEART_RATE in record.tags and m is not None:
                words.setdefault(
                    "heart-rate",
                    self.t.gettext(N_("heart rate {value}")).format(value=value_text(m, self.t)),
                )
            elif record.code.code in _PE_SIGN_WORDS:
                words.setdefault(record.code.code, self.t.gettext(_PE_SIGN_WORDS[record.code.code]))
        return [words[key] for key in _PE_SIGN_ORDER if key in words]

    def sign(self) -> str:
        return self._more(self.pe_signs(), 2)

    def leg(self) -> str:
        if any(r.finding_id in _DVT_TRIGGER_FINDINGS for r in self.fired.evidence):
            return self.t.gettext(N_("DVT signs"))
        if self.fs.present("F-DVT-DX"):
            return self.t.gettext(N_("recent DVT or PE"))
        return self.calf_symptom()

    def calf_symptom(self) -> str:
        return self._first_present(_CALF_SYMPTOMS, capital=False)

    def Calf_symptom(self) -> str:
        return self._first_present(_CALF_SYMPTOMS, capital=True)

    def symptom(self) -> str:
        return self._first_present(_LEG_SYMPTOMS, capital=False)

    def Sign(self) -> str:
        cold = self.fs.present("F-COLD-LIMB", with_tags=(TAG_COLD,))
        pale = self.fs.present("F-COLD-LIMB", with_tags=(TAG_PALLOR,))
        if cold and pale:
            return self.t.gettext(N_("Cold, pale leg"))
        return self.t.gettext(N_("Pale leg") if pale else N_("Cold leg"))

    def deficit(self) -> str:
        numb = self.fs.present("F-SENSORY-MOTOR-LOSS", with_tags=(TAG_SENSORY,))
        weak = self.fs.present("F-SENSORY-MOTOR-LOSS", with_tags=(TAG_MOTOR,))
        if numb and weak:
            return self.t.gettext(N_("numbness and weakness"))
        return self.t.gettext(N_("weakness") if weak else N_("numbness"))

    def Spinal(self) -> str:
        return self.t.gettext(
            N_("Back pain") if self.fs.present("F-LOW-BACK-PAIN") else N_("Sciatica")
        )

    def pregnancy(self) -> str:
        postpartum = all(TAG_POSTPARTUM in r.tags for r in self.fs.standing_present("F-PREGNANT"))
        return self.t.gettext(N_("postpartum") if postpartum else N_("in pregnancy"))

    def n(self) -> str:
        if self.fired.rule_id in {"R-RHABDO", "R-MYOSITIS"}:
            ck = self.fs.highest("F-CK")
            if ck is not None and ck.measurement is not None and ck.measurement.value is not None:
                value = ck.measurement.value
                return self.t.number(value, 1 if value < 10 else 0)
        return str(self.assessment.wells.score)

    def _ddimer(self, state: str) -> DDimerResult | None:
        return next((r for r in self.assessment.d_dimers.results if r.state == state), None)

    def value(self) -> str:
        if self.fired.rule_id == "R-SEVERE-ELECTROLYTE":
            record = self._electrolyte_record()
            if record is not None and record.measurement is not None:
                return value_text(record.measurement, self.t)
            return self.t.gettext(N_("flagged critical by the lab"))
        if self.fired.rule_id == "R-NO-RED-FLAG-DATA":
            record = self._unreadable_record()
            m = record.measurement if record else None
            return md(_cut(m.sent_value if m else None))
        result = self._ddimer(POSITIVE)
        if result is not None and result.record.measurement is not None:
            return value_text(result.record.measurement, self.t)
        return self.t.gettext(N_("positive"))

    def fever(self) -> str:
        hottest = self.fs.highest("F-FEVER")
        if hottest is None or hottest.measurement is None:
            return self.t.gettext(N_("fever"))
        return self.t.gettext(N_("fever {value}")).format(
            value=value_text(hottest.measurement, self.t)
        )

    def ddimer(self) -> str:
        result = self._ddimer(NEGATIVE)
        if result is None or result.record.measurement is None or result.cutoff is None:
            return self.t.gettext(N_("D-dimer negative"))
        m = result.record.measurement
        return self.t.gettext(N_("D-dimer {value}, below {cutoff}")).format(
            value=value_text(m, self.t), cutoff=cutoff_text(result, self.t)
        )

    def reason(self) -> str:
        """The sign that blocks R-DVT-UNLIKELY (§7.4)."""
        signs = self.pe_signs()
        if self.fs.present("F-CYANOSIS"):
            signs.append(self.t.gettext(N_("leg cyanosis")))
        return self._more(signs, 1) if signs else self.t.gettext(N_("a PE sign"))

    def _electrolyte_record(self) -> Finding | None:
        standing = self.fs.standing_present("F-SEVERE-ELECTROLYTE")
        for analyte in ("potassium", "calcium", "magnesium"):
            for record in standing:
                if record.measurement is not None and record.measurement.analyte == analyte:
                    return record
        return standing[0] if standing else None

    def electrolyte(self) -> str:
        record = self._electrolyte_record()
        analyte = record.measurement.analyte if record and record.measurement else "potassium"
        return self.t.gettext(_LOWER_ANALYTES.get(analyte, ANALYTE_NAMES[analyte]))

    def abi(self) -> str:
        low = self.fs.lowest("F-ABI")
        if low is None or low.measurement is None or low.measurement.value is None:
            return "?"
        return self.t.number(low.measurement.value, 2)

    def Evidence(self) -> str:
        if self.fs.present("F-CLAUDICATION"):
            return self.t.gettext(N_("Claudication"))
        return self.t.gettext(N_("PAD on record"))

    def evidence(self) -> str:
        if self.fs.present("F-RHABDO", with_tags=()) and any(
            r.code.code == "dark-urine" for r in self.fs.standing_present("F-RHABDO")
        ):
            return self.t.gettext(N_("dark urine"))
        return self.t.gettext(N_("rhabdomyolysis on record"))

    def muscle(self) -> str:
        if self.fs.present("F-CALF-PAIN") or any(
            r.code.code == "68962001" for r in self.fired.evidence
        ):
            return self.t.gettext(N_("muscle pain"))
        return self.t.gettext(N_("weakness"))

    def cause(self) -> str:
        causes: list[str] = []
        for record in self.fs.standing_present("F-CRAMP-CAUSE"):
            m = record.measurement
            if m is not None and m.analyte in _LOWER_ANALYTES:
                causes.append(
                    f"{self.t.gettext(_LOWER_ANALYTES[m.analyte])} {value_text(m, self.t)}"
                )
            else:
                causes.append(self.t.gettext(record.name).lower())
        unique = list(dict.fromkeys(causes)) or [self.t.gettext(N_("a recorded cause"))]
        return self._more(unique, 1)

    def treatment(self) -> str:
        groups = self.assessment.groups
        if "pregnant" in groups:
            return self.t.gettext(N_("treatment-dose LMWH"))
        if "under-18" in groups:
            return self.t.gettext(N_("anticoagulation with paediatric haematology"))
        return self.t.gettext(N_("anticoagulation"))

    def date(self) -> str:
        records = [r for r in self.fs.standing_present("F-DVT-DX")]
        dated = [r for r in records if r.when is not None]
        if not dated:
            return self.t.gettext(N_("(undated)"))
        latest = max(dated, key=lambda r: timestamp(r.when))  # type: ignore[arg-type]
        return self.t.gettext(N_("on {date}")).format(date=_date_text(latest, self.t))

    def items(self) -> str:
        count = len(not_recorded(self.fired, self.assessment))
        return self.t.ngettext(N_("{n} item"), N_("{n} items"), count).format(n=count)

    def _unreadable_record(self) -> Finding | None:
        blocking = self.assessment.blocking_values
        return blocking[0] if blocking else None

    def Test(self) -> str:
        record = self._unreadable_record()
        analyte = record.measurement.analyte if record and record.measurement else "d-dimer"
        return self.t.gettext(ANALYTE_NAMES[analyte])

    def unit(self) -> str:
        record = self._unreadable_record()
        return md(
            ((record.measurement.sent_unit or "") if record and record.measurement else "")[:12]
        )

    def route(self) -> str:
        route = route_for(self.fired.route, self.assessment.policy.route_profile)
        return self.t.gettext(route.card_text(self.priority))

    def fill(self, template: str, *, shorten: bool = False) -> str:
        names = {
            "side", "sign", "leg", "calf symptom", "Calf symptom", "symptom", "Sign", "deficit",
            "Spinal", "pregnancy", "n", "value", "fever", "ddimer", "reason", "electrolyte",
            "abi", "Evidence", "evidence", "muscle", "cause", "treatment", "date", "items",
            "Test", "unit", "route",
        }  # fmt: skip
        values: dict[str, str] = {}
        for name in names:
            if "{" + name + "}" in template:
                method = getattr(self, name.replace(" ", "_"))
                values[name] = method()
        if shorten and "sign" in values:
            values["sign"] = self._more(self.pe_signs(), 1)
        text = template
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return _tidy(text)


def _cut(value: float | None) -> str:
    return ("" if value is None else f"{value:g}")[:12]


def _as_sent(m: Measurement | None) -> str:
    """A value and unit exactly as sent (cut to 12 characters each), "" when neither was."""
    if m is None:
        return ""
    return md(" ".join(part for part in (_cut(m.sent_value), (m.sent_unit or "")[:12]) if part))


def _tidy(text: str) -> str:
    """A filled template without the gaps an empty placeholder leaves ("(38.5 )", "()")."""
    text = re.sub(r" {2,}", " ", text).replace(" )", ")").replace("( ", "(")
    return text.replace(" ()", "").replace("()", "")


def cutoff_text(result: DDimerResult, t: Translator) -> str:
    """`{cut-off}` of §7.4 in the value's unit: "500", "250" or "age-adjusted 800"."""
    m = result.record.measurement
    assert m is not None
    assert result.cutoff is not None
    unit = display_unit(m.sent_unit)
    factor = 1000.0 if unit in {"mg/L", "µg/mL"} else 1.0
    number = t.number(result.cutoff / factor, 2 if factor > 1 else 0)
    if result.age_adjusted:
        return t.gettext(N_("age-adjusted {cutoff}")).format(cutoff=number)
    return number


# --------------------------------------------------------------------------- checklists
def checklist_key(fired: FiredRule) -> str:
    if fired.rule_id in {"R-PE-SUSPECTED", "R-PE-SIGN"}:
        return "pe"
    return fired.rule.topic


def _item_recorded(item: wording.CheckItem, fs: FindingSet) -> bool:
    if item is wording.SWELLING_SIDE:
        swelling = [r for f in item.findings for r in fs.standing_present(f)]
        return not swelling or any(r.side is not Side.UNKNOWN for r in swelling)
    records = [
        r
        for f in item.findings
        for r in fs.records(f)
        if r.in_window
        and r.interpretable
        and (r.present or r.when is not None)
        and all(tag in r.tags for tag in item.with_tags)
        and (
            item.analyte is None
            or (r.measurement is not None and r.measurement.analyte == item.analyte)
        )
    ]
    if not item.sides:
        return bool(records)
    sides = {r.side for r in records}
    return Side.BILATERAL in sides or {Side.LEFT, Side.RIGHT} <= sides


def not_recorded(fired: FiredRule, assessment: Assessment) -> tuple[wording.CheckItem, ...]:
    """The card topic's checklist items with no record (§7.5)."""
    items = wording.CHECKLISTS[checklist_key(fired)]
    return tuple(item for item in items if not _item_recorded(item, assessment.findings))


# --------------------------------------------------------------------------- safety nets
def _net_item_present(item: wording.NetItem, fs: FindingSet) -> bool:
    if not item.findings:
        return False
    for finding_id in item.findings:
        for record in fs.standing_present(finding_id):
            if item.with_tags and not all(t in record.tags for t in item.with_tags):
                continue
            if item.codes and record.code.code not in item.codes:
                continue
            if item.unilateral and record.side is Side.BILATERAL:
                continue
            return True
    return False


def net_line(line: wording.NetLine, fs: FindingSet, t: Translator) -> str:
    """A safety-net line without the items already recorded present (§7.5)."""
    kept = [
        [t.gettext(i.text) for i in group if not _net_item_present(i, fs)] for group in line.groups
    ]
    template = t.gettext(line.templates[tuple(bool(group) for group in kept)])
    values = {
        name: t.join(group, t.gettext(N_("or")))
        for name, group in zip(("a", "b"), kept, strict=False)
    }
    return template.format(**values) if values else template


# --------------------------------------------------------------------------- the card
@dataclass
class _CardBuilder:
    planned: Planned
    assessment: Assessment
    request: CardRequest

    @property
    def t(self) -> Translator:
        return self.request.translator

    @property
    def fired(self) -> FiredRule:
        return self.planned.fired

    @property
    def rule(self) -> Rule:
        return self.fired.rule

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule.id, self.fired.variant.name)

    @property
    def slots(self) -> _Slots:
        return _Slots(
            self.fired, self.assessment, self.t, self.planned.priority or self.fired.priority
        )

    def summary(self) -> str:
        template = self.t.gettext(wording.SUMMARIES[self.key])
        text = self.slots.fill(template)
        if len(text) >= SUMMARY_LIMIT:
            text = self.slots.fill(template, shorten=True)
        if len(text) >= SUMMARY_LIMIT:
            log.warning("summary over the limit", extra={"rule_id": self.rule.id})
            text = text[: SUMMARY_LIMIT - 2] + "…"
        return text

    def route_text(self) -> str:
        route = route_for(self.fired.route, self.assessment.policy.route_profile)
        return self.t.gettext(route.card_text(self.planned.priority or self.fired.priority))

    def steps(self) -> list[str]:
        slots = self.slots
        lines = [slots.fill(self.t.gettext(step)) for step in wording.NEXT_STEPS[self.key]]
        route = route_for(self.fired.route, self.assessment.policy.route_profile)
        planned = self.planned
        if planned.covered_by is not None and planned.cover is not None:
            tier = planned.covered_by.tier
            template = (
                N_("Covered by the emergency referral (card: {card}).")
                if tier is Tier.EMERGENCY
                else N_("Covered by the urgent referral (card: {card}).")
            )
            lines.append(
                self.t.gettext(template).format(card=self.t.gettext(planned.covered_by.rule.name))
            )
            handover = wording.HANDOVERS.get(
                (planned.cover.rule_id, self.rule.id)
            ) or wording.HANDOVERS.get(("*", self.rule.id))
            if handover:
                lines.append(self.t.gettext(handover))
            if route.creates_request:
                concern = wording.CONCERNS.get(
                    (planned.cover.rule_id, planned.cover.variant.name)
                ) or wording.CONCERNS.get((planned.cover.rule_id, None), "")
                lines.append(
                    self.t.gettext(
                        N_(
                            "If {concern} is excluded there, or this problem is not assessed "
                            "there, this card's own step applies: {route}."
                        )
                    ).format(concern=self.t.gettext(concern), route=self.route_text())
                )
        elif planned.merged_into is not None:
            word = _PRIORITY_WORDS.get(planned.merged_priority or "", N_("urgent"))
            lines.append(
                self.t.gettext(
                    N_("Included in the {priority} referral on the card: {card}.")
                ).format(
                    priority=self.t.gettext(word),
                    card=self.t.gettext(planned.merged_into.rule.name),
                )
            )
        elif route.creates_request:
            lines.append(self.t.gettext(N_("Referral: {route}.")).format(route=self.route_text()))
        return list(dict.fromkeys(lines))

    def why(self) -> tuple[list[str], list[Finding]]:
        lateral = self.rule.lateral
        by_resource: dict[str, Finding] = {}
        for record in self.fired.evidence:
            by_resource.setdefault(record.reference, record)
        records = list(by_resource.values())
        if len(records) > EVIDENCE_CAP:
            records.sort(key=lambda r: timestamp(r.when) if r.when else float("inf"), reverse=True)
        shown = records[:EVIDENCE_CAP]
        lines = [f"- {record_line(r, self.t, lateral=lateral)}" for r in shown]
        if len(records) > EVIDENCE_CAP:
            more = len(records) - EVIDENCE_CAP
            lines.append(
                "- "
                + self.t.ngettext(
                    N_("and {n} more record"), N_("and {n} more records"), more
                ).format(n=self.t.number(more, 0))
            )
        return lines, records

    def score(self, missing: list[str]) -> list[str]:
        t, wells = self.t, self.assessment.wells
        lines: list[str] = []
        if self.assessment.groups:
            lines.append(t.gettext(N_("Validated scores do not apply.")))
            if missing:
                lines.append(
                    t.gettext(N_("Not recorded: {items}.")).format(items=", ".join(missing))
                )
            return lines
        alt = wells.alternative
        if wells.classification == LIKELY:
            alt_word = N_("absent") if alt.status == ABSENT else N_("not recorded")
            if alt.status == "present":
                alt_word = N_("present (counted)")
            lines.append(
                t.gettext(N_("DVT likely: Wells {n} (alternative-diagnosis item {state}).")).format(
                    n=wells.score, state=t.gettext(alt_word)
                )
            )
        elif wells.classification == INCOMPLETE:
            points = t.ngettext(
                N_("{n} point recorded"), N_("{n} points recorded"), abs(wells.score)
            ).format(n=wells.score)
            lines.append(
                t.gettext(N_("Wells incomplete: {points}, up to {high}.")).format(
                    points=points, high=wells.high
                )
            )
        else:
            lines.append(
                t.gettext(N_("DVT unlikely: Wells {n}, every item recorded.")).format(n=wells.score)
            )
        counted = []
        for item in wells.counted:
            label = t.gettext(item.label)
            if item.provisional:
                label = t.gettext(
                    N_(
                        "calf tenderness, not documented along the deep veins: "
                        "+1 provisionally, confirm"
                    )
                )
            points = f"{item.points:+d}"
            counted.append(f"{label} ({points})")
        none = t.gettext(N_("none"))
        lines.append(t.gettext(N_("Counted: {items}.")).format(items=", ".join(counted) or none))
        wells_missing = [t.gettext(item.label) for item in wells.not_recorded]
        everything = list(dict.fromkeys([*wells_missing, *missing]))
        if everything:
            lines.append(
                t.gettext(N_("Not recorded: {items}.")).format(items=", ".join(everything))
            )
        lines.extend(self.ddimer_lines())
        return lines

    def ddimer_lines(self) -> list[str]:
        t = self.t
        results = self.assessment.d_dimers.results
        if not results:
            return [t.gettext(N_("D-dimer: none in the last 72 h."))]
        lines = []
        for result in results[:3]:
            record = result.record
            value = (
                value_text(record.measurement, t) if record.measurement else t.gettext(N_("result"))
            )
            head = t.gettext(N_("D-dimer {value}, {date}")).format(
                value=value, date=_date_text(record, t)
            )
            if result.state == NEGATIVE and result.cutoff is not None:
                tail = t.gettext(N_("negative, below the cut-off {cutoff} {unit}")).format(
                    cutoff=cutoff_text(result, t), unit=_dimer_unit(record.measurement, t)
                )
            elif result.state == NEGATIVE:
                tail = t.gettext(N_("negative"))
            elif (
                result.state == POSITIVE
                and result.reason == N_("positive")
                and result.cutoff is not None
            ):
                tail = t.gettext(N_("positive (cut-off {cutoff} {unit})")).format(
                    cutoff=cutoff_text(result, t), unit=_dimer_unit(record.measurement, t)
                )
            elif result.state == POSITIVE:
                tail = t.gettext(N_("positive ({reason})")).format(reason=t.gettext(result.reason))
            else:
                tail = t.gettext(N_("cannot exclude DVT: {reason}")).format(
                    reason=t.gettext(result.reason)
                )
            lines.append(f"{head}: {tail}.")
        if self.fired.variant.name == "unlikely-ddimer-blocked":
            lines.append(
                t.gettext(N_("The negative D-dimer cannot exclude DVT beside {reason}.")).format(
                    reason=self.slots.reason()
                )
            )
        return lines

    def caveats(self, shown: list[Finding]) -> list[str]:
        t = self.t
        lines: list[str] = []
        undated = [r for r in self.fired.evidence if r.when is None]
        for record in undated[:EVIDENCE_CAP]:
            lines.append(
                t.gettext(N_("Undated: {name} ({reference}) counted as current.")).format(
                    name=t.gettext(record.name), reference=md(record.reference)
                )
            )
        if self.assessment.age_unknown and self.rule.topic == "venous":
            lines.append(
                t.gettext(N_("Age unknown: treated as an adult; D-dimer cut-off 500 ng/mL FEU."))
            )
        for record in self.assessment.blocking_values:
            lines.append(
                t.gettext(
                    N_(
                        "{name} {value} could not be interpreted: check it with the lab; "
                        "self-care advice is withheld."
                    )
                ).format(
                    name=t.gettext(record.name),
                    value=_as_sent(record.measurement) or t.gettext(N_("(no value)")),
                )
            )
        read = set(self.rule.findings_used)
        for record in self.assessment.findings.not_interpretable():
            if record.finding_id in read and TAG_NOT_INTERPRETABLE_BLOCKS not in record.tags:
                lines.append(
                    t.gettext(
                        N_(
                            "{name} {value} ({reference}): not interpretable, counted as not "
                            "recorded."
                        )
                    ).format(
                        name=t.gettext(record.name),
                        value=_as_sent(record.measurement) or t.gettext(N_("(no value)")),
                        reference=md(record.reference),
                    )
                )
        references = {r.reference for r in (*self.fired.evidence, *self.fired.also_noted)}
        for caveat in self.assessment.extraction.caveats:
            if caveat.reference in references:
                lines.append(
                    f"{md(caveat.reference)}: {caveat.element} {t.gettext(caveat.problem)}"
                )
        if self.planned.suggestion and not self._subject():
            lines.append(
                t.gettext(N_("No patient reference was available: no referral was drafted."))
            )
        return list(dict.fromkeys(lines))

    def also_noted(self) -> list[str]:
        lines = []
        seen: set[str] = set()
        for record in self.fired.also_noted:
            if record.reference in seen:
                continue
            seen.add(record.reference)
            note = (
                self.t.gettext(N_("supporting evidence only"))
                if TAG_SUPPORTING in record.tags and record.in_window
                else self.t.gettext(N_("outside its time window"))
            )
            lines.append(f"- {record_line(record, self.t, lateral=self.rule.lateral, note=note)}")
        return lines[:EVIDENCE_CAP]

    def transfer(self) -> str:
        t = self.t
        if self.rule.id == "R-PE-SUSPECTED":
            return t.gettext(wording.TRANSFER_PE)
        text = t.gettext(wording.TRANSFER)
        extra = wording.TRANSFER_EXTRA.get(self.rule.id)
        return f"{text} {t.gettext(extra)}" if extra else text

    def safety_net(self) -> list[str]:
        fs = self.assessment.findings
        lines = [
            net_line(line, fs, self.t)
            for topic in self.planned.safety_net
            for line in wording.SAFETY_NETS[topic]
        ]
        return list(dict.fromkeys(lines))

    def _subject(self) -> str | None:
        if self.request.patient_id:
            return f"Patient/{self.request.patient_id}"
        subjects = {r.subject for r in self.fired.evidence if r.subject}
        return subjects.pop() if len(subjects) == 1 else None

    def suggestion(self) -> Suggestion | None:
        subject = self._subject()
        if not self.planned.suggestion or subject is None:
            return None
        policy = self.assessment.policy
        route = route_for(self.fired.route, policy.route_profile)
        assert route.code is not None
        referral = Referral(
            code=wire_code(route.code, policy.base),
            category=route.category,
            performer=route.performer,
            priority=self.planned.priority,
            subject=subject,
            reasons=self.planned.reasons,
        )
        label = (
            N_("Draft referral: {route}")
            if route.category.code == "3457005"
            else N_("Draft order: {route}")
        )
        return Suggestion(
            uuid=self.request.new_uuid(),
            label=self.t.gettext(label).format(route=self.route_text()),
            referral=referral,
            is_recommended=self.rule.recommended,
        )

    def build(self) -> Card:
        t = self.t
        fired, rule, planned = self.fired, self.rule, self.planned
        steps = self.steps()
        why, evidence_records = self.why()
        missing_items = not_recorded(fired, self.assessment)
        missing = [t.gettext(item.label) for item in missing_items]
        detail: list[str] = [
            "**" + t.gettext(N_("What to do next")) + "**",
            *(f"- {s}" for s in steps),
        ]
        detail += ["", "**" + t.gettext(N_("Why")) + "**", *why]
        is_dvt = rule.id in {"R-DVT-PATHWAY", "R-DVT-UNLIKELY"}
        if is_dvt:
            detail += ["", "**" + t.gettext(N_("Score")) + "**", *self.score(missing)]
        elif missing:
            detail += ["", "**" + t.gettext(N_("Not recorded")) + "**", ", ".join(missing) + "."]
        if also := self.also_noted():
            detail += ["", "**" + t.gettext(N_("Also noted")) + "**", *also]
        caveats = self.caveats(evidence_records)
        if caveats:
            detail += ["", "**" + t.gettext(N_("Caveats")) + "**", *(f"- {c}" for c in caveats)]
        transfer = None
        net = self.safety_net()
        if fired.tier is Tier.EMERGENCY:
            transfer = self.transfer()
            detail += ["", "**" + t.gettext(N_("Transfer")) + "**", transfer]
        elif net:
            detail += ["", "**" + t.gettext(N_("Safety net")) + "**", *net]
        source = fired.source
        label = f"{source.label} (calf-cds {RULE_SET_VERSION})"
        detail += [
            "",
            t.gettext(N_("Source: {source}")).format(source=label),
            "",
            "_" + t.gettext(DISCLAIMER) + "_",
        ]
        suggestion = self.suggestion()
        wells_missing = (
            [i.finding_id for i in self.assessment.wells.not_recorded]
            if is_dvt and not self.assessment.groups
            else []
        )
        # What the red-flag check app can complete: findings a clinician answers present or
        # absent; lab values and vital signs (an analyte, or no presence code) stay with the lab.
        bedside = [
            f
            for item in missing_items
            if item.analyte is None
            for f in item.findings
            if FINDINGS[f].codes
        ]
        missing_ids = tuple(dict.fromkeys([*wells_missing, *bedside]))
        links = []
        if source.url:
            links.append(Link(source.label, source.url))
        if self.request.smart_launch_url and missing_ids:
            links.append(
                Link(
                    t.gettext(SMART_LINK_LABEL),
                    self.request.smart_launch_url,
                    "smart",
                    self._app_context(missing_ids),
                )
            )
        base = self.assessment.policy.base
        extension = CardExtension(
            rule_id=rule.id,
            tier=fired.tier.value,
            route=fired.route,
            variant=fired.variant.name,
            evidence=tuple(self._evidence_item(r) for r in evidence_records[:EVIDENCE_CAP]),
            evidence_total=len(evidence_records),
            wells=self.assessment.wells.as_data()
            if is_dvt and not self.assessment.groups
            else None,
            not_recorded=tuple(
                dict.fromkeys(
                    [
                        *(
                            [t.gettext(i.label) for i in self.assessment.wells.not_recorded]
                            if wells_missing
                            else []
                        ),
                        *missing,
                    ]
                )
            ),
            next_steps=tuple(steps),
            covered_by=planned.covered_by.rule_id if planned.covered_by else None,
            merged_into=planned.merged_into.rule_id if planned.merged_into else None,
            caveats=tuple(caveats),
            safety_net=tuple(net) if transfer is None else (),
            transfer=transfer,
            missing_items=missing_ids,
            language=t.language,
            evaluated_at=self.assessment.evaluated_at.isoformat(),
        )
        return Card(
            uuid=self.request.new_uuid(),
            summary=self.summary(),
            indicator=fired.tier.indicator,
            detail="\n".join(detail),
            source=SourceRef(label, source.url, Code(base + RULE_SYSTEM_PATH, rule.id, rule.name)),
            extension=extension,
            suggestions=(suggestion,) if suggestion else (),
            override_reasons=override_reasons(base, t),
            links=tuple(links),
        )

    def _app_context(self, missing: tuple[str, ...]) -> str:
        """The smart link's appContext (issue 20): the hook call, the card's rule and the finding
        ids to complete; with the evaluation time the request asked for, so the app judges the
        record at the same instant (testers' requests; an EHR's call never sets one)."""
        context: dict[str, object] = {
            "hookInstance": self.request.hook_instance,
            "ruleId": self.rule.id,
            "findings": list(missing),
        }
        if self.request.reference_time is not None:
            context["evaluationTime"] = self.request.reference_time.isoformat()
        return json.dumps(context, separators=(",", ":"))

    def _evidence_item(self, record: Finding) -> EvidenceItem:
        m = record.measurement
        side = (
            None
            if record.side is Side.UNKNOWN
            else ("both" if record.side is Side.BILATERAL else record.side.value)
        )
        return EvidenceItem(
            finding_id=record.finding_id,
            name=self.t.gettext(record.name),
            reference=record.reference,
            date=record.when.date().isoformat() if record.when else None,
            value=value_text(m, self.t) if m is not None else None,
            side=side,
            present=record.present,
            raw_value=m.value if m is not None else None,
            unit=m.unit if m is not None else None,
        )


def _dimer_unit(m: Measurement | None, t: Translator) -> str:
    unit = display_unit(m.sent_unit) if m else None
    basis = f" {m.basis}" if m and m.basis else ""
    return (t.gettext(unit) if unit else t.gettext("ng/mL")) + basis


def override_reasons(base: str, t: Translator) -> tuple[Code, ...]:
    return tuple(
        Code(base + OVERRIDE_SYSTEM_PATH, code, t.gettext(display))
        for code, display in OVERRIDE_REASONS
    )


def minimal_card(fired: FiredRule, assessment: Assessment, request: CardRequest) -> Card:
    """The stand-in for a card that failed to build (§1.1): indicator, summary; the rule id
    only in `source.topic`. Built from row data only, so it cannot fail the same way."""
    t, rule = request.translator, fired.rule
    base = assessment.policy.base
    summary = t.gettext(N_("{name}: review now (the full card could not be shown)")).format(
        name=t.gettext(rule.name)
    )
    return Card(
        uuid=request.new_uuid(),
        summary=summary[: SUMMARY_LIMIT - 1],
        indicator=fired.tier.indicator,
        detail="_" + t.gettext(DISCLAIMER) + "_",
        source=SourceRef(
            f"calf-cds {RULE_SET_VERSION}", "", Code(base + RULE_SYSTEM_PATH, rule.id, rule.name)
        ),
        extension=CardExtension(
            rule_id=rule.id, tier=None, route=None, variant=None, language=t.language
        ),
    )


def data_quality_card(assessment: Assessment, request: CardRequest) -> Card | None:
    """The info card without topic: unreadable resources, data not available or incomplete,
    entries without a resource (§1.1; cds-hooks.md "Missing prefetch")."""
    t = request.translator
    extraction = assessment.extraction
    unreadable = extraction.unreadable
    skipped = extraction.skipped_entries
    if not (unreadable or request.unsatisfied_prefetch or request.incomplete_queries or skipped):
        return None
    lines: list[str] = []
    if unreadable:
        n = len(unreadable)
        summary = t.ngettext(
            N_("{n} resource could not be read: red flags may be missing"),
            N_("{n} resources could not be read: red flags may be missing"),
            n,
        ).format(n=n)
        lines += [
            f"- {md(u.reference)}: " + " ".join(filter(None, (u.element, t.gettext(u.problem))))
            for u in unreadable[:EVIDENCE_CAP]
        ]
        if n > EVIDENCE_CAP:
            lines.append(
                "- "
                + t.ngettext(
                    N_("and {n} more record"), N_("and {n} more records"), n - EVIDENCE_CAP
                ).format(n=n - EVIDENCE_CAP)
            )
    elif request.unsatisfied_prefetch:
        summary = t.gettext(N_("Data not available ({keys}): red flags may be missing")).format(
            keys=", ".join(request.unsatisfied_prefetch)
        )
    elif request.incomplete_queries:
        summary = t.gettext(N_("Data fetch incomplete ({keys}): red flags may be missing")).format(
            keys=", ".join(key for key, _ in request.incomplete_queries)
        )
    else:
        n = len(skipped)
        summary = t.ngettext(
            N_("{n} Bundle entry had no resource: red flags may be missing"),
            N_("{n} Bundle entries had no resource: red flags may be missing"),
            n,
        ).format(n=n)
    for key in request.unsatisfied_prefetch:
        lines.append(
            "- "
            + t.gettext(N_("Prefetch {key}: not available and not fetched; not evaluated.")).format(
                key=md(key)
            )
        )
    for key, reason in request.incomplete_queries:
        lines.append(
            "- "
            + t.gettext(N_("Query {key} incomplete ({reason}): red flags may be missing.")).format(
                key=md(key), reason=md(reason)
            )
        )
    if skipped:
        indexes = ", ".join(md(i) for i in skipped[:EVIDENCE_CAP])
        lines.append(
            "- "
            + t.gettext(N_("Bundle entries without a resource (skipped): {indexes}.")).format(
                indexes=indexes
            )
        )
    for record in assessment.blocking_values:
        lines.append("- " + record_line(record, t, lateral=False))
    detail = "\n".join(
        ["**" + t.gettext(N_("Data quality")) + "**", *lines, "", "_" + t.gettext(DISCLAIMER) + "_"]
    )
    return Card(
        uuid=request.new_uuid(),
        summary=summary[: SUMMARY_LIMIT - 1],
        indicator="info",
        detail=detail,
        source=SourceRef(f"calf-cds {RULE_SET_VERSION}"),
        extension=CardExtension(
            rule_id=None,
            tier=None,
            route=None,
            variant=None,
            caveats=tuple(lines),
            language=t.language,
            evaluated_at=assessment.evaluated_at.isoformat(),
        ),
    )


CardBuild = Callable[[Planned, Assessment, CardRequest], Card]


def build_rule_card(planned: Planned, assessment: Assessment, request: CardRequest) -> Card:
    return _CardBuilder(planned, assessment, request).build()


def build_cards(
    assessment: Assessment, request: CardRequest, *, build: CardBuild = build_rule_card
) -> list[Card]:
    """The answer's cards: the plan's cards in §8.4 order, then the data-quality card. A card
    that fails to build is logged with its rule id and replaced by a minimal card (§1.1);
    `build` is injectable so a test can make one fail."""
    cards: list[Card] = []
    for planned in compose(assessment):
        try:
            cards.append(build(planned, assessment, request))
        except Exception as exc:  # §1.1: a failed card never drops the others
            log.error(
                "card build failed; minimal card issued",
                extra={"rule_id": planned.rule_id, "error": type(exc).__name__},
            )
            cards.append(minimal_card(planned.fired, assessment, request))
    try:
        quality = data_quality_card(assessment, request)
    except Exception as exc:  # the same guarantee for the data-quality card
        log.error("data-quality card failed", extra={"error": type(exc).__name__})
        quality = Card(
            uuid=request.new_uuid(),
            summary=request.translator.gettext(
                N_("Some data could not be read: red flags may be missing")
            ),
            indicator="info",
            detail="",
            source=SourceRef(f"calf-cds {RULE_SET_VERSION}"),
            extension=CardExtension(rule_id=None, tier=None, route=None, variant=None),
        )
    if quality is not None:
        cards.append(quality)
    return cards


__all__ = ["CardRequest", "build_cards", "safety_net_topic"]
