"""How findings read on a card (clinical-rules.md §7.2): values in the unit sent, sides,
dates, one "Why" line per record; EHR text escaped so it cannot inject markdown. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from .findings import FINDINGS
from .i18n import N_, Translator
from .measurements import shown_multiple, shown_number
from .model import (
    TAG_CODED_RESULT,
    TAG_NOT_DEEP_VEIN,
    Finding,
    Measurement,
    Side,
)
from .scores import DDimerResult
from .units import display_unit, unit_of_unitless

SUMMARY_LIMIT = 140  # CDS Hooks 2.0: summary < 140 characters
DISCLAIMER = N_("Decision support only; clinical judgement applies.")
# The characters markdown reads; a regex, as str.translate looks every character of the text up.
_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>#|]")
# Runs of characters that steer a display rather than show: line breaks and other controls (text
# kept on its line cannot start a heading or a list) and bidi controls (which reorder what a
# reader sees). The CLI's report shows them escaped (cds.cli.store).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_SPACES = re.compile(r" {2,}")
# Findings sited on one leg: on venous and arterial cards (and R-CELLULITIS) their side is
# shown, and a missing side reads "side not recorded (counted as one-sided)" (§7.2.4).
SIDED_FINDINGS = frozenset(
    {
        "F-CALF-PAIN", "F-LEG-SWELLING", "F-ANKLE-SWELLING", "F-CALF-SWELLING-3CM",
        "F-ENTIRE-LEG-SWOLLEN", "F-PITTING-EDEMA", "F-DEEP-VEIN-TENDERNESS", "F-COLLATERAL-VEINS",
        "F-ERYTHEMA", "F-WARMTH", "F-CYANOSIS", "F-COLD-LIMB", "F-PAINFUL-COLD-LIMB",
        "F-PULSELESS", "F-SENSORY-MOTOR-LOSS", "F-SVT", "F-CELLULITIS", "F-COMPARTMENT",
        "F-GANGRENE", "F-REST-PAIN", "F-ABI", "F-SKIN-DISCOLOURATION",
    }
)  # fmt: skip
SIDE_WORDS = {
    Side.LEFT: N_("left"),
    Side.RIGHT: N_("right"),
    Side.BILATERAL: N_("both"),
    Side.UNKNOWN: N_("side not recorded"),
}


def md(text: str) -> str:
    """Escape EHR-supplied text so it cannot inject markdown (links, emphasis, tables, or
    lines of its own) nor reorder what is read: control characters become spaces."""
    return _MD_SPECIAL.sub(_escaped, plain(text))


def plain(text: str) -> str:
    """EHR-supplied text for a plain-text field (a card's summary): control characters become
    spaces; nothing is escaped, since nothing there is read as markdown."""
    if text.isprintable():  # a C loop: the usual text needs no regex pass
        return text
    return CONTROL_CHARACTERS.sub(" ", text)


def _escaped(match: re.Match[str]) -> str:
    return "\\" + match.group()


def _sent_decimals(value: float) -> int:
    """The decimals a number was sent with, at most 2 (§7.2.3)."""
    return min(2, len(f"{value:g}".partition(".")[2]))


def value_text(m: Measurement, t: Translator, escape: Callable[[str], str] = md) -> str:
    """A value as a card shows it (§7.2.3), in the unit sent: "650 ng/mL FEU", "38.9 °C"; an
    unknown unit as sent, through `escape` (`plain` for a summary)."""
    if m.sent_value is None:
        return t.gettext(N_("positive")) if m.value is None else t.number(m.value, 2)
    if m.sent_unit is not None:
        unit = display_unit(m.sent_unit)
    else:  # read in full only when every accepted unit gives the same number
        unit = unit_of_unitless(m.analyte) if m.value is not None else ""
    if m.sent_unit is None and m.value is None:
        # No unit, and the units it could be in give different numbers: shown as sent, cut
        # (never rounded up) to at most 2 decimals, so 0.4996 never reads 0.50.
        places = _sent_decimals(m.sent_value)
        number = t.number(math.trunc(m.sent_value * 10**places) / 10**places, places)
    else:
        number = t.number(*shown_number(m, display_unit(m.sent_unit)))
    text = f"{m.comparator or ''}{number}"
    if unit is None:  # an unknown unit: shown as sent, cut to 12 characters
        text += f" {escape((m.sent_unit or '')[:12])}"
    elif unit:
        shown = t.gettext(unit)
        # "108/min" as clinicians write it; a translation that is a word takes a space
        # ("108 уд/мин").
        text += shown if shown.startswith("/") else f" {shown}"
    if m.basis:
        text += f" {m.basis}"
    if m.analyte == "ck" and m.value is not None:
        multiple = t.number(*shown_multiple(m.value))
        text += " " + t.gettext(N_("({multiple} × ULN)")).format(multiple=multiple)
    return text


# Codes whose own term names both legs ("Swelling of both legs"): no ", both" after it.
_BOTH_LEGS_CODES = frozenset(
    code.code for finding in FINDINGS.values() for code in finding.codes if code.bilateral
)


def side_text(record: Finding, lateral: bool, t: Translator) -> str:
    if record.side is Side.BILATERAL and record.code.code in _BOTH_LEGS_CODES:
        return ""
    if record.side is not Side.UNKNOWN:
        return t.gettext(SIDE_WORDS[record.side])
    if lateral and record.finding_id == "F-ABI":  # a ratio: no sign to count one-sided
        return t.gettext(SIDE_WORDS[Side.UNKNOWN])
    if lateral and record.finding_id in SIDED_FINDINGS:
        return t.gettext(N_("side not recorded (counted as one-sided)"))
    return ""


def date_text(record: Finding, t: Translator) -> str:
    return t.date(record.when.date()) if record.when else t.gettext(N_("undated"))


def record_line(record: Finding, t: Translator, *, lateral: bool, note: str = "") -> str:
    """One finding as a "Why" line: name, value, side, date, resource (§7.3)."""
    parts = [t.gettext(record.name)]
    if record.measurement is not None and record.interpretable:
        parts[0] += " " + value_text(record.measurement, t)
    elif sent := as_sent(record.measurement):  # a unit not understood is not relabelled
        parts[0] += " " + t.gettext(N_("{value}: not interpretable")).format(value=sent)
    elif record.measurement is not None:
        parts[0] += ": " + t.gettext(N_("not interpretable"))
    if TAG_CODED_RESULT in record.tags:  # a lab's qualitative result: never "absent"
        parts[0] += ": " + t.gettext(N_("positive") if record.present else N_("negative"))
    elif not record.present and record.measurement is None:
        parts[0] += ": " + t.gettext(N_("absent"))
    if side := side_text(record, lateral, t):
        parts.append(side)
    parts.append(date_text(record, t))
    if TAG_NOT_DEEP_VEIN in record.tags:
        parts.append(t.gettext(N_("calf tenderness, not documented along the deep veins")))
    if note:
        parts.append(note)
    return f"{', '.join(parts)} ({md(record.reference)})"


def cut(value: float | None) -> str:
    return ("" if value is None else f"{value:g}")[:12]


def as_sent(m: Measurement | None) -> str:
    """A value (with its comparator) and unit exactly as sent, each cut to 12 characters, for
    markdown; "" when neither was."""
    return md(sent_text(m))


def sent_text(m: Measurement | None) -> str:
    """As `as_sent`, as plain text (the card extension's data)."""
    if m is None:
        return ""
    if m.sent_value is not None:
        value = (m.comparator or "") + cut(m.sent_value)
    else:
        value = (m.sent_text or "")[:12]
    return " ".join(part for part in (value, (m.sent_unit or "")[:12]) if part)


def tidy(text: str) -> str:
    """A filled template without the gaps an empty placeholder leaves ("(38.5 )", "()")."""
    text = _SPACES.sub(" ", text).replace(" )", ")").replace("( ", "(")
    return text.replace(" ()", "").replace("()", "")


def cutoff_text(result: DDimerResult, t: Translator) -> str:
    """`{cut-off}` of §7.4 in the value's unit: "500", "250" or "age-adjusted 800"."""
    number = cutoff_number(result, t)
    if result.age_adjusted:
        return t.gettext(N_("age-adjusted {cutoff}")).format(cutoff=number)
    return number


def cutoff_number(result: DDimerResult, t: Translator) -> str:
    """The D-dimer cut-off used, as a number in the value's unit: "500", "0.80"."""
    m = result.record.measurement
    assert m is not None
    assert result.cutoff is not None
    unit = display_unit(m.sent_unit)
    factor = 1000.0 if unit in {"mg/L", "µg/mL"} else 1.0
    return t.number(result.cutoff / factor, 2 if factor > 1 else 0)


def dimer_unit(m: Measurement | None, t: Translator) -> str:
    """The unit a D-dimer line names: as sent when readable, else ng/mL; then FEU or DDU."""
    unit = display_unit(m.sent_unit) if m else None
    basis = f" {m.basis}" if m and m.basis else ""
    return (t.gettext(unit) if unit else t.gettext("ng/mL")) + basis
