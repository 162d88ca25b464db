"""UCUM conversion for the threshold analytes (clinical-rules.md §2 "Quantities").

Pure. Accepts the spellings EHRs send (case-insensitive, UCUM annotations `{...}` ignored
except FEU/DDU for D-dimer); a unit not in the table is never guessed: `convert` returns None.
`display_unit` gives the unit a card shows, as a message id the translator renders.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .findings import (
    ABI,
    CALCIUM,
    CALF_CIRCUMFERENCE,
    CK,
    D_DIMER,
    HEART_RATE,
    MAGNESIUM,
    POTASSIUM,
    SPO2,
    TEMPERATURE,
    TSH,
)
from .i18n import N_

MG_MOLAR_MASS = 24.305  # g/mol
CA_MOLAR_MASS = 40.078  # g/mol

_ANNOTATION = re.compile(r"\{([^{}]*)\}")
# Labs often write the D-dimer basis as a word after the unit ("mg/L FEU", "ug/mL (DDU)"):
# read it as the UCUM annotation it stands for.
_BASIS_WORD = re.compile(r"[\s(]+(FEU|DDU)\)?\s*$", re.IGNORECASE)
# Spelling -> canonical token, per analyte kind; keys are lower-case, annotations removed.
_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u"})  # micro sign and Greek mu

# Linear factors to the analyte's base unit (first listed canonical).
_LINEAR: dict[str, dict[str, float]] = {
    SPO2: {"%": 1.0},
    HEART_RATE: {"/min": 1.0, "1/min": 1.0, "beats/min": 1.0, "bpm": 1.0},
    D_DIMER: {
        "ng/ml": 1.0,
        "ug/l": 1.0,
        "mcg/l": 1.0,
        "ug/ml": 1000.0,
        "mcg/ml": 1000.0,
        "mg/l": 1000.0,
    },
    CK: {"u/l": 1.0, "iu/l": 1.0, "[iu]/l": 1.0},
    ABI: {"": 1.0, "1": 1.0},
    TSH: {"m[iu]/l": 1.0, "miu/l": 1.0, "u[iu]/ml": 1.0, "uiu/ml": 1.0},
    POTASSIUM: {"mmol/l": 1.0, "meq/l": 1.0},
    # Mg and Ca: base mmol/L; mg/dL -> mmol/L = x * 10 / molar mass.
    MAGNESIUM: {"mmol/l": 1.0, "mg/dl": 10.0 / MG_MOLAR_MASS},
    CALCIUM: {"mmol/l": 1.0, "mg/dl": 10.0 / CA_MOLAR_MASS},
    CALF_CIRCUMFERENCE: {"cm": 1.0, "mm": 0.1, "[in_i]": 2.54},
}
_CELSIUS = frozenset({"cel", "°c", "c", "degc"})
_FAHRENHEIT = frozenset({"[degf]", "°f", "degf"})

# Spellings of the canonical units returned by convert(), mapped to the table's keys.
_CANONICAL_KEY = {
    "Cel": "cel",
    "%": "%",
    "/min": "/min",
    "ng/mL": "ng/ml",
    "U/L": "u/l",
    "1": "1",
    "mIU/L": "miu/l",
    "mmol/L": "mmol/l",
    "mg/dL": "mg/dl",
    "cm": "cm",
}


def canonical_key(unit: str) -> str:
    """The table key of a canonical unit (`mg/dL` -> `mg/dl`)."""
    return _CANONICAL_KEY[unit]


@dataclass(frozen=True)
class ParsedUnit:
    """A unit string split into its normalised base and its `{...}` annotations."""

    base: str  # lower-case, micro signs as "u", annotations removed, "" when only annotations
    annotations: tuple[str, ...]  # upper-case annotation texts, e.g. ("FEU",)


@functools.lru_cache(maxsize=4096)
def parse_unit(raw: str | None) -> ParsedUnit | None:
    """Normalise a unit spelling; None when no unit was sent at all (pure, so memoised: the
    same few spellings repeat across records)."""
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    word = _BASIS_WORD.search(text)
    if word is not None:
        text = f"{text[: word.start()]}{{{word.group(1)}}}"
    annotations = tuple(a.strip().upper() for a in _ANNOTATION.findall(text))
    base = _ANNOTATION.sub("", text).strip().translate(_MICRO).lower().replace(" ", "")
    return ParsedUnit(base, annotations)


def dimer_annotation(raw: str | None) -> str | None:
    """ "FEU" or "DDU" when the unit carries that UCUM annotation (`ng/mL{FEU}`), else None."""
    parsed = parse_unit(raw)
    if parsed is None:
        return None
    for note in parsed.annotations:
        if note in {"FEU", "DDU"}:
            return note
    return None


def is_known_unit(analyte: str, raw: str | None) -> bool:
    """True when `raw` is a spelling this module converts for `analyte`."""
    parsed = parse_unit(raw)
    if parsed is None:
        return analyte == ABI  # an ABI may be sent without a unit
    if analyte == TEMPERATURE:
        return parsed.base in _CELSIUS or parsed.base in _FAHRENHEIT
    return parsed.base in _LINEAR.get(analyte, {})


def convert(analyte: str, value: float, raw_unit: str | None, target: str) -> float | None:
    """`value` in `raw_unit` expressed in `target` (a canonical unit); None = not convertible.

    An ABI with no unit, `1` or an annotation only (`{ratio}`) is a ratio. Temperature
    converts Cel <-> [degF]; Mg and Ca mmol/L <-> mg/dL by molar mass (§2).
    """
    parsed = parse_unit(raw_unit)
    if analyte == TEMPERATURE:
        if parsed is None:
            return None
        if parsed.base in _CELSIUS:
            celsius = value
        elif parsed.base in _FAHRENHEIT:
            celsius = (value - 32.0) * 5.0 / 9.0
        else:
            return None
        if target == "Cel":
            return celsius
        if target == "[degF]":
            return celsius * 9.0 / 5.0 + 32.0
        raise ValueError(f"no canonical unit {target!r} for {analyte}")
    table = _LINEAR.get(analyte)
    if table is None:
        raise ValueError(f"unknown analyte {analyte!r}")
    target_factor = table.get(_CANONICAL_KEY.get(target, target.lower()))
    if target_factor is None:
        raise ValueError(f"no canonical unit {target!r} for {analyte}")
    base = "" if parsed is None else parsed.base
    factor = table.get(base)
    if factor is None:
        return None
    return value * factor / target_factor


def candidate_units(analyte: str) -> tuple[str, ...]:
    """Every accepted spelling family for `analyte` (for values sent with no unit at all)."""
    if analyte == TEMPERATURE:
        return ("Cel", "[degF]")
    return tuple(key for key in _LINEAR[analyte] if key != "")


def unit_of_unitless(analyte: str) -> str:
    """The unit to show for a value sent without one: the unit every accepted spelling shares
    (potassium: mmol/L = meq/L), or "" when they differ or the value is a ratio."""
    shown = {display_unit(unit) for unit in candidate_units(analyte)}
    only = shown.pop() if len(shown) == 1 else None
    return only or ""


# The unit a card shows for an accepted spelling; units written with letters are message ids
# ("ng/mL" reads "нг/мл" in Russian), signs alone are not.
_DISPLAY = {
    "cel": "°C",
    "°c": "°C",
    "c": "°C",
    "degc": "°C",
    "[degf]": "°F",
    "°f": "°F",
    "degf": "°F",
    "%": "%",
    "/min": N_("/min"),
    "1/min": N_("/min"),
    "beats/min": N_("/min"),
    "bpm": N_("/min"),
    "ng/ml": N_("ng/mL"),
    "ug/l": N_("µg/L"),
    "mcg/l": N_("µg/L"),
    "ug/ml": N_("µg/mL"),
    "mcg/ml": N_("µg/mL"),
    "mg/l": N_("mg/L"),
    "u/l": N_("U/L"),
    "iu/l": N_("U/L"),
    "[iu]/l": N_("U/L"),
    "m[iu]/l": N_("mIU/L"),
    "miu/l": N_("mIU/L"),
    "u[iu]/ml": N_("mIU/L"),
    "uiu/ml": N_("mIU/L"),
    "mmol/l": N_("mmol/L"),
    "meq/l": N_("mmol/L"),
    "mg/dl": N_("mg/dL"),
    "cm": N_("cm"),
    "mm": N_("mm"),
    "[in_i]": N_("in"),
    "": "",
    "1": "",
}


def display_unit(raw: str | None) -> str | None:
    """The unit to show for an accepted spelling ("" for a ratio), or None when unknown."""
    parsed = parse_unit(raw)
    if parsed is None:
        return ""
    return _DISPLAY.get(parsed.base)
