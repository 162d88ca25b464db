"""The §7.4 summary placeholders ({side}, {sign}, {leg}, ...) of one card, each computed when
its template asks for it. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from . import wording
from .card_text import (
    SIDE_WORDS,
    SIDED_FINDINGS,
    cut,
    cutoff_text,
    date_text,
    plain,
    tidy,
    value_text,
)
from .checklists import not_recorded
from .engine import Assessment, FiredRule
from .findingset import FindingSet, timestamp
from .i18n import N_, Translator
from .measurements import ANALYTE_NAMES, shown_multiple
from .model import (
    TAG_COLD,
    TAG_HEART_RATE,
    TAG_MOTOR,
    TAG_PALLOR,
    TAG_POSTPARTUM,
    TAG_SENSORY,
    TAG_SPO2,
    Finding,
    Side,
)
from .routes import route_for
from .scores import NEGATIVE, POSITIVE, DDimerResult

# The signs whose side a summary's {side} names (§7.4), ahead of the symptoms beside them.
_SIGN_FINDINGS = frozenset(
    {
        "F-CYANOSIS", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB", "F-PULSELESS",
        "F-SENSORY-MOTOR-LOSS", "F-ALI-DX",
    }
)  # fmt: skip
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

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass
class SummarySlots:
    """The §7.4 placeholders of one card, each computed when its template asks for it."""

    fired: FiredRule
    assessment: Assessment
    t: Translator
    priority: str | None

    @property
    def fs(self) -> FindingSet:
        return self.assessment.findings

    @cached_property
    def missing(self) -> tuple[wording.CheckItem, ...]:
        """The card's checklist items with no record (§7.5): its {items} and "Not recorded"."""
        return not_recorded(self.fired, self.assessment)

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
        return items[0] + " " + self.t.ngettext("and {n} more", "and {n} more", rest).format(n=rest)

    def side(self) -> str:
        sided = [r for r in self.fired.evidence if r.finding_id in SIDED_FINDINGS]
        # The summary names the side of the sign ("Cold leg (right)"), never that of a symptom
        # beside it: a sign with no recorded side reads "side not recorded" (both legs examined).
        signs = [r for r in sided if r.finding_id in _SIGN_FINDINGS]
        known = {r.side for r in signs or sided} - {Side.UNKNOWN}
        if Side.BILATERAL in known or {Side.LEFT, Side.RIGHT} <= known:
            return self.t.gettext(SIDE_WORDS[Side.BILATERAL])
        if known:
            return self.t.gettext(SIDE_WORDS[next(iter(known))])
        return self.t.gettext(SIDE_WORDS[Side.UNKNOWN])

    def pe_signs(self) -> list[str]:
        words: dict[str, str] = {}
        for record in self.fs.standing_present("F-PE-SYMPTOM"):
            m = record.measurement
            if TAG_SPO2 in record.tags and m is not None:
                words.setdefault("spo2", "SpO2 " + value_text(m, self.t, plain))
            elif TAG_HEART_RATE in record.tags and m is not None:
                words.setdefault(
                    "heart-rate",
                    self.t.gettext(N_("heart rate {value}")).format(
                        value=value_text(m, self.t, plain)
                    ),
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

    def calf_symptom_capitalised(self) -> str:
        return self._first_present(_CALF_SYMPTOMS, capital=True)

    def symptom(self) -> str:
        return self._first_present(_LEG_SYMPTOMS, capital=False)

    def ischaemia_sign(self) -> str:
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

    def spinal_complaint(self) -> str:
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
                return self.t.number(*shown_multiple(value))
        return str(self.assessment.wells.score)

    def _ddimer(self, state: str) -> DDimerResult | None:
        return next((r for r in self.assessment.d_dimers.results if r.state == state), None)

    def value(self) -> str:
        if self.fired.rule_id == "R-SEVERE-ELECTROLYTE":
            record = self._electrolyte_record()
            if record is not None and record.measurement is not None:
                return value_text(record.measurement, self.t, plain)
            return self.t.gettext(N_("flagged critical by the lab"))
        if self.fired.rule_id == "R-NO-RED-FLAG-DATA":
            record = self._unreadable_record()
            m = record.measurement if record else None
            if m is not None and m.sent_value is None:
                return plain((m.sent_text or "")[:12])
            return plain(cut(m.sent_value if m else None))
        result = self._ddimer(POSITIVE)
        if result is not None and result.record.measurement is not None:
            return value_text(result.record.measurement, self.t, plain)
        return self.t.gettext(N_("positive"))

    def fever(self) -> str:
        hottest = self.fs.highest("F-FEVER")
        if hottest is None or hottest.measurement is None:
            return self.t.gettext(N_("fever"))
        return self.t.gettext(N_("fever {value}")).format(
            value=value_text(hottest.measurement, self.t, plain)
        )

    def ddimer(self) -> str:
        result = self._ddimer(NEGATIVE)
        if result is None or result.record.measurement is None or result.cutoff is None:
            return self.t.gettext(N_("D-dimer negative"))
        m = result.record.measurement
        return self.t.gettext(N_("D-dimer {value}, below {cutoff}")).format(
            value=value_text(m, self.t, plain), cutoff=cutoff_text(result, self.t)
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

    def pad_evidence(self) -> str:
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
                    f"{self.t.gettext(_LOWER_ANALYTES[m.analyte])} {value_text(m, self.t, plain)}"
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
        return self.t.gettext(N_("on {date}")).format(date=date_text(latest, self.t))

    def items(self) -> str:
        count = len(self.missing)
        return self.t.ngettext("{n} item", "{n} items", count).format(n=count)

    def _unreadable_record(self) -> Finding | None:
        blocking = self.assessment.blocking_values
        return blocking[0] if blocking else None

    def test_name(self) -> str:
        record = self._unreadable_record()
        analyte = record.measurement.analyte if record and record.measurement else "d-dimer"
        return self.t.gettext(ANALYTE_NAMES[analyte])

    def unit(self) -> str:
        record = self._unreadable_record()
        return plain(
            ((record.measurement.sent_unit or "") if record and record.measurement else "")[:12]
        )

    def route(self) -> str:
        route = route_for(self.fired.route, self.assessment.policy.route_profile)
        return self.t.gettext(route.card_text(self.priority))

    def fill(self, template: str, *, shorten: bool = False) -> str:
        values = {
            name: _SLOTS[name](self)
            for name in dict.fromkeys(_PLACEHOLDER.findall(template))
            if name in _SLOTS
        }
        if shorten and "sign" in values:
            values["sign"] = self._more(self.pe_signs(), 1)
        text = template
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return tidy(text)


# The §7.4 placeholders a template may hold, each with the method that fills it.
_SLOTS: dict[str, Callable[[SummarySlots], str]] = {
    "side": SummarySlots.side,
    "sign": SummarySlots.sign,
    "Sign": SummarySlots.ischaemia_sign,
    "leg": SummarySlots.leg,
    "calf symptom": SummarySlots.calf_symptom,
    "Calf symptom": SummarySlots.calf_symptom_capitalised,
    "symptom": SummarySlots.symptom,
    "deficit": SummarySlots.deficit,
    "Spinal": SummarySlots.spinal_complaint,
    "pregnancy": SummarySlots.pregnancy,
    "n": SummarySlots.n,
    "value": SummarySlots.value,
    "fever": SummarySlots.fever,
    "ddimer": SummarySlots.ddimer,
    "reason": SummarySlots.reason,
    "electrolyte": SummarySlots.electrolyte,
    "abi": SummarySlots.abi,
    "Evidence": SummarySlots.pad_evidence,
    "evidence": SummarySlots.evidence,
    "muscle": SummarySlots.muscle,
    "cause": SummarySlots.cause,
    "treatment": SummarySlots.treatment,
    "date": SummarySlots.date,
    "items": SummarySlots.items,
    "Test": SummarySlots.test_name,
    "unit": SummarySlots.unit,
    "route": SummarySlots.route,
}
