"""What the red-flag check asks, generated from the finding catalog.

Pure. The form asks the ten Wells items (`rules.WELLS_ITEMS`) and the items of the cards'
"not recorded" checklists (`wording.CHECKLISTS`) that a clinician answers present or absent at
the bedside; items decided by a lab value or a vital sign (an analyte) stay with the lab.

One row per concept: a finding's eligible presence codes are grouped by the tags that tell its
concepts apart ("cold" and "pallor" for a cold or pale leg, "sensory" and "motor" for a deficit,
and the tags a code carries under any finding, so paresis stays apart from a plaster cast). Each
group writes one catalog code, a standard (SNOMED CT or LOINC) one when the group has one, else
the local one. A code the catalog reads as weaker evidence (supporting only, calf tenderness not
along the deep veins, ...) never becomes a row: recording it would not say what the row says.
Sections follow the way a clinician examines a leg; that layout table is the only hand-written
part, and a finding it does not place still gets a row under "Other findings".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..core import findings as cat
from ..core.card_text import SIDED_FINDINGS
from ..core.i18n import N_
from ..core.model import TAG_AT_ANY_SITE, TAG_NOT_DEEP_VEIN, TAG_OUTSIDE_LEG, TAG_SUPPORTING
from ..core.rules import WELLS_FINDINGS
from ..core.statements import site_ok
from ..core.wording import CHECKLISTS, CheckItem

# The bodySite written for a finding of the leg (SNOMED "Lower limb structure"): a +calf and +leg
# site (§2 "Body sites"), so every leg code's site requirement is met.
LOWER_LIMB = ("61685007", "Lower limb structure")

# Tags that make a record weaker evidence than its finding: such a code never says what a row
# says, and such a record never pre-fills a row.
WEAKENING_TAGS = frozenset({TAG_SUPPORTING, TAG_NOT_DEEP_VEIN, TAG_AT_ANY_SITE, TAG_OUTSIDE_LEG})
# Without appContext the app asks the broadest leg check: the checklist of the card that finds
# no red flag (venous items, foot pulses, back pain), with the Wells items.
DEFAULT_CHECKLIST = "general"

# (section key, title, finding ids in the order a clinician examines them).
_LAYOUT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "history",
        N_("History"),
        ("F-ACTIVE-CANCER", "F-PREVIOUS-DVT", "F-BEDRIDDEN-OR-SURGERY"),
    ),
    (
        "look",
        N_("Look: both legs"),
        (
            "F-LEG-SWELLING",
            "F-ANKLE-SWELLING",
            "F-ENTIRE-LEG-SWOLLEN",
            "F-CALF-SWELLING-3CM",
            "F-ERYTHEMA",
            "F-CYANOSIS",
            "F-COLLATERAL-VEINS",
            "F-SKIN-DISCOLOURATION",
        ),
    ),
    (
        "feel",
        N_("Feel: both legs"),
        (
            "F-PITTING-EDEMA",
            "F-DEEP-VEIN-TENDERNESS",
            "F-WARMTH",
            "F-COLD-LIMB",
            "F-PAINFUL-COLD-LIMB",
            "F-PULSELESS",
        ),
    ),
    (
        "nerves",
        N_("Nerves, power and mobility"),
        (
            "F-SENSORY-MOTOR-LOSS",
            "F-PARESIS-OR-CAST",
            "F-RADICULAR",
            "F-LOW-BACK-PAIN",
            "F-CAUDA-EQUINA-DX",
            "F-BLADDER-BOWEL-FLAG",
        ),
    ),
    ("general", N_("General"), ("F-FEVER",)),
    ("judgement", N_("Clinical judgement"), ("F-ALTERNATIVE-DX-LIKELY",)),
)
OTHER_SECTION = ("other", N_("Other findings"))


@dataclass(frozen=True)
class Row:
    """One question: a concept of one finding, answered present / absent / not examined.

    `key` is stable and safe in an HTML name and a Questionnaire linkId ("F-COLD-LIMB.pallor").
    `sources` are the (finding id, code) pairs whose records pre-fill the row; `whole` the
    findings for which any record does (a finding with this one row). `findings` are every
    finding id the written code records (a code may count for two: paresis).
    """

    key: str
    finding_id: str
    label: str  # a message id: the code's clinician term, else the finding's name
    code: cat.CodeDef
    sided: bool
    findings: frozenset[str]
    sources: frozenset[tuple[str, str]]
    whole: frozenset[str] = frozenset()

    @property
    def leg_site(self) -> bool:
        """Whether the record is sited on the leg: a sided row, or a code that counts only
        with a calf or leg bodySite (§2 "Body sites")."""
        return self.sided or _needs_leg_site(self.code)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    rows: tuple[Row, ...] = field(default_factory=tuple)


def _needs_leg_site(code: cat.CodeDef) -> bool:
    return code.site in (cat.SITE_CALF, cat.SITE_LEG)


def _recorded_findings(code: cat.CodeDef, sided: bool) -> frozenset[str]:
    """The findings the reader makes of the written record: the code's catalog entries whose
    body-site requirement the written bodySite meets (leg cyanosis is not a PE sign)."""
    sites = frozenset({LOWER_LIMB[0]}) if sided or _needs_leg_site(code) else frozenset()
    return frozenset(
        entry.finding.finding_id
        for entry in cat.CODE_INDEX[(code.system, code.code)]
        if site_ok(entry.code.site, sites)
    )


def _eligible(code: cat.CodeDef) -> bool:
    return (
        code.indexed
        and not code.bilateral
        and code.site != cat.SITE_NOT_LEG
        and not code.tags & WEAKENING_TAGS
    )


def _concept_tags(code: cat.CodeDef) -> frozenset[str]:
    """The tags a code carries under every finding it names: what it means, wherever read."""
    tags: set[str] = set()
    for entry in cat.CODE_INDEX.get((code.system, code.code), ()):
        tags |= entry.code.tags
    return frozenset(tags - WEAKENING_TAGS)


def _groups(finding: cat.FindingDef, with_tags: frozenset[str]) -> list[list[cat.CodeDef]]:
    grouped: dict[frozenset[str], list[cat.CodeDef]] = {}
    for code in finding.codes:
        if _eligible(code) and with_tags <= code.tags:
            grouped.setdefault(_concept_tags(code), []).append(code)
    return list(grouped.values())


def _chosen(codes: list[cat.CodeDef]) -> cat.CodeDef:
    """A standard code when the group has one (a local code only where the catalog has no
    standard one), else the first local code; catalog order otherwise."""
    return next((c for c in codes if not c.is_local), codes[0])


def _is_sided(finding_id: str) -> bool:
    return finding_id in SIDED_FINDINGS or any(
        item.sides and finding_id in item.findings
        for items in CHECKLISTS.values()
        for item in items
    )


def bedside_items() -> tuple[CheckItem, ...]:
    """The checklist items a clinician answers at the bedside (no analyte), deduplicated."""
    items = (item for items in CHECKLISTS.values() for item in items if item.analyte is None)
    return tuple(dict.fromkeys(items))


def _asked_tags() -> dict[str, set[frozenset[str]]]:
    """finding id -> the tag filters it is asked with (Wells items: any of its concepts)."""
    asked: dict[str, set[frozenset[str]]] = {f: {frozenset()} for f in WELLS_FINDINGS}
    for item in bedside_items():
        for finding_id in item.findings:
            asked.setdefault(finding_id, set()).add(frozenset(item.with_tags))
    return asked


def _rows_of(finding_id: str, filters: Iterable[frozenset[str]]) -> list[Row]:
    finding = cat.FINDINGS[finding_id]
    groups: list[list[cat.CodeDef]] = []
    for with_tags in sorted(filters, key=sorted):
        groups += [g for g in _groups(finding, with_tags) if g not in groups]
    rows = []
    for group in groups:
        code = _chosen(group)
        tags = sorted(_concept_tags(code))
        key = finding_id if len(groups) == 1 else f"{finding_id}.{'-'.join(tags) or 'other'}"
        label = code.term or (finding.name if len(groups) == 1 else code.display)
        sided = _is_sided(finding_id)
        rows.append(
            Row(
                key=key,
                finding_id=finding_id,
                label=label,
                code=code,
                sided=sided,
                findings=_recorded_findings(code, sided),
                sources=frozenset((finding_id, c.code) for c in group),
                whole=frozenset({finding_id}) if len(groups) == 1 else frozenset(),
            )
        )
    return rows


def _merge(first: Row, second: Row) -> Row:
    """One row for a code two findings ask for (paresis: a Wells item and a motor deficit)."""
    return Row(
        key=first.key,
        finding_id=first.finding_id,
        label=first.label,
        code=first.code,
        sided=first.sided or second.sided,
        findings=first.findings | second.findings,
        sources=first.sources | second.sources,
        whole=first.whole | second.whole,
    )


@functools.cache
def sections() -> tuple[Section, ...]:
    """Every section with every row the red-flag check can ask (the Questionnaire's items)."""
    asked = _asked_tags()
    placed = [finding_id for _, _, ids in _LAYOUT for finding_id in ids]
    layout = [*_LAYOUT, (*OTHER_SECTION, tuple(f for f in asked if f not in placed))]
    by_code: dict[tuple[str, str], Row] = {}
    section_of: dict[tuple[str, str], str] = {}
    for key, _title, finding_ids in layout:
        for finding_id in finding_ids:
            if finding_id not in asked:
                continue
            for row in _rows_of(finding_id, asked[finding_id]):
                code = (row.code.system, row.code.code)
                if code in by_code:
                    by_code[code] = _merge(by_code[code], row)
                else:
                    by_code[code] = row
                    section_of[code] = key
    out = []
    for key, title, _ in layout:
        rows = tuple(row for code, row in by_code.items() if section_of[code] == key)
        if rows:
            out.append(Section(key, title, rows))
    return tuple(out)


def all_rows() -> tuple[Row, ...]:
    return tuple(row for section in sections() for row in section.rows)


def asked_findings(app_context_findings: Iterable[str] | None) -> frozenset[str]:
    """The findings one launch asks: the card's missing items (appContext) or, without them,
    the default checklist's; always the ten Wells items."""
    if app_context_findings is None:
        wanted = {f for item in CHECKLISTS[DEFAULT_CHECKLIST] for f in item.findings}
    else:
        wanted = set(app_context_findings)
    return frozenset(wanted | set(WELLS_FINDINGS))


def sections_for(findings: frozenset[str]) -> tuple[Section, ...]:
    """The sections with the rows that record any of `findings` (empty sections dropped)."""
    out = []
    for section in sections():
        rows = tuple(row for row in section.rows if row.findings & findings)
        if rows:
            out.append(Section(section.key, section.title, rows))
    return tuple(out)
