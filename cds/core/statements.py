"""One clinical statement -> Findings (clinical-rules.md §2 "Presence", windows, sites, sides).

Pure. The FHIR reader decodes an Observation (or one of its components) or a Condition into a
`Statement` of plain values; this module applies the catalog (§3) and the reading rules of §2:
the presence rule, body-site requirements, laterality, Condition status and the time windows.
Measured values are judged by `core.measurements`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache

from . import findings as cat
from .findingset import dated_in_the_future
from .measurements import ANALYTE_NAMES, LabResult, judge
from .model import (
    TAG_ACTIVE_CONDITION,
    TAG_OUTSIDE_LEG,
    TAG_SIDES_CONFLICT,
    Code,
    Finding,
    Side,
)
from .policy import Policy

LATERALITY = {
    cat.LEFT_CODE: Side.LEFT,
    cat.RIGHT_CODE: Side.RIGHT,
    cat.BILATERAL_CODE: Side.BILATERAL,
}


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Coding:
    system: str
    code: str


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see cds/core/model.py
class Statement:
    """What one Observation, Observation component or Condition states, FHIR-free.

    `when` is the latest date the resource gives (§2); `anchor` the onset or effective date a
    postpartum window counts from (else `when`). `negated` is an explicit absence (valueBoolean
    false, SNOMED 373067005 No, interpretation NEG). `lab` is read only for analyte codes.
    """

    reference: str
    resource_type: str
    codes: tuple[Coding, ...]
    value_codes: tuple[Coding, ...] = ()
    negated: bool = False
    lab: LabResult | None = None
    when: datetime | None = None
    anchor: datetime | None = None
    site_codes: frozenset[str] | None = frozenset()  # None: a malformed bodySite
    side: Side = Side.UNKNOWN
    # bodySite coded with two lateralities: side unknown for one-sided rules, and it still
    # counts where a rule asks for both legs (conservative both ways).
    sides_conflict: bool = False
    subject: str | None = None
    status: str = "final"
    active: bool = True  # a Condition's clinicalStatus (absent counts as active)
    flag: str | None = None


def side_of(codes: set[str]) -> Side:
    """Laterality from SNOMED codes: one side, both, or unknown (§2 "Laterality")."""
    return combined_side({LATERALITY[code] for code in codes if code in LATERALITY})


def combined_side(sides: set[Side]) -> Side:
    """The sides several sites name, as one: one side, both, or unknown."""
    if not sides:
        return Side.UNKNOWN
    if Side.BILATERAL in sides or {Side.LEFT, Side.RIGHT} <= sides:
        return Side.BILATERAL
    return next(iter(sides))


def outside_leg(site_codes: frozenset[str] | None) -> bool:
    """§2 (2026.2): sited outside the leg = a body-site code other than laterality, none of
    which is a +leg site. A malformed bodySite (None) is not outside the leg (conservative)."""
    if site_codes is None:
        return False
    sites = site_codes - LATERALITY.keys()
    return bool(sites) and not sites & cat.LEG_SITE_CODES


def site_ok(site: str | None, site_codes: frozenset[str] | None) -> bool:
    """Does a record meet a code's body-site requirement (§2 "Body sites")? A malformed
    bodySite (None) meets every requirement: where it was meant to be is unknown, and a red
    flag is never dropped for it (conservative)."""
    if site is None or site_codes is None:
        return True
    if site == cat.SITE_CALF:
        return bool(site_codes & cat.CALF_SITE_CODES)
    if site == cat.SITE_LEG:
        return bool(site_codes & cat.LEG_SITE_CODES)
    return not site_codes & cat.LEG_SITE_CODES  # SITE_NOT_LEG


@dataclass(frozen=True)
class StatementReader:
    """Reads statements under one policy at one evaluation time."""

    policy: Policy
    now: datetime

    @cached_property  # catalog_for hashes the whole policy on every call
    def catalog(self) -> cat.Catalog:
        return cat.catalog_for(self.policy)

    @cached_property  # as for the catalog: the policy is hashed once, not per finding
    def windows(self) -> Mapping[tuple[str, bool], timedelta | None]:
        return cat.windows(self.policy)

    def in_window(self, when: datetime | None, window_class: str, *, condition: bool) -> bool:
        """Undated counts as current (conservative); a future date is inside the window."""
        window = self.windows[(window_class, condition)]
        return window is None or when is None or self.now - when <= window

    def read(self, statement: Statement) -> list[Finding]:
        """Every finding the statement records, once per (finding, presence, tags, side)."""
        made: dict[tuple[object, ...], Finding] = {}
        # A lab result is read only for an analyte code: no result, no measurement to look up.
        lab = statement.lab
        measure = None if lab is None else self.first_measurement(statement.codes)
        if measure is not None and lab is not None:
            for finding in self._measured(statement, measure, lab):
                made.setdefault(_key(finding), finding)
        outside = outside_leg(statement.site_codes)
        for coding in (*statement.codes, *statement.value_codes):
            for entry in self.catalog.lookup(coding.system, coding.code):
                presence = self._presence(statement, entry, outside_leg=outside)
                if presence is not None:
                    made.setdefault(_key(presence), presence)
        if statement.sides_conflict:
            for finding in made.values():
                finding.tags = finding.tags | {TAG_SIDES_CONFLICT}
        return list(made.values())

    def first_measurement(self, codes: tuple[Coding, ...]) -> cat.MeasurementDef | None:
        for coding in codes:
            found = self.catalog.measurement(coding.system, coding.code)
            if found is not None:
                return found
        return None

    def _measured(
        self, statement: Statement, mdef: cat.MeasurementDef, lab: LabResult
    ) -> list[Finding]:
        code = catalog_code(mdef.system, mdef.code, mdef.display, self.policy.base)
        in_window = self.in_window(statement.when, mdef.window_class, condition=False)
        when = statement.when
        # As for a coded absence: one dated in the future fills nothing. A D-dimer keeps its
        # date, which its own line names ("dated in the future", cds.core.scores).
        future = dated_in_the_future(when, self.now) and mdef.analyte != cat.D_DIMER
        return [
            Finding(
                finding_id=judgement.finding_id,
                present=judgement.present,
                reference=statement.reference,
                name=ANALYTE_NAMES[mdef.analyte],
                code=code,
                when=None if future and not judgement.present else when,
                in_window=in_window,
                side=judgement.side or statement.side,
                measurement=judgement.measurement,
                interpretable=judgement.interpretable,
                tags=judgement.tags,
                resource_type=statement.resource_type,
                subject=statement.subject,
                status=statement.status,
                flag=judgement.flag,
            )
            for judgement in judge(mdef, lab, self.policy)
        ]

    def _presence(
        self, statement: Statement, entry: cat.CatalogEntry, *, outside_leg: bool
    ) -> Finding | None:
        """One catalog entry applied to one statement: site, Condition status, window (§2).
        `outside_leg` is the statement's, worked out once for all its entries."""
        code_def, finding_def = entry.code, entry.finding
        finding_id = finding_def.finding_id
        tags = code_def.tags
        if not site_ok(code_def.site, statement.site_codes):
            if code_def.off_site_tags is None:
                return None
            tags |= code_def.off_site_tags
        if outside_leg:
            tags |= {TAG_OUTSIDE_LEG}
        window_class = code_def.window_class or finding_def.window_class
        is_condition = statement.resource_type == "Condition"
        present = not statement.negated
        when = statement.when
        if not present and dated_in_the_future(when, self.now):
            when = None  # a future-dated absence is read as undated: it fills nothing (§2)
        if finding_id == "F-DVT-DX":
            # Inactive, or active but older than 14 days: history (F-PREVIOUS-DVT), §2.
            recent = when is None or self.now - when <= cat.FOURTEEN_DAYS
            if present and (not statement.active or not recent):
                finding_id, window_class = "F-PREVIOUS-DVT", cat.WINDOW_HISTORY
                finding_def = cat.FINDINGS[finding_id]  # named as what it counts for
        elif is_condition and not statement.active and finding_id != "F-PREVIOUS-DVT":
            return None  # resolved or inactive Conditions count only as history (§2)
        current_condition = is_condition and statement.active
        if current_condition:
            tags |= {TAG_ACTIVE_CONDITION}
        reference_date = when
        if window_class == cat.WINDOW_POSTPARTUM:
            reference_date = statement.anchor or when
        return Finding(
            finding_id=finding_id,
            present=present,
            reference=statement.reference,
            name=code_def.term or finding_def.name,
            code=catalog_code(code_def.system, code_def.code, code_def.display, self.policy.base),
            when=when,
            in_window=self.in_window(reference_date, window_class, condition=current_condition),
            side=Side.BILATERAL if code_def.bilateral else statement.side,
            tags=tags,
            resource_type=statement.resource_type,
            subject=statement.subject,
            status=statement.status,
            flag=statement.flag,
            onset=statement.anchor,
        )


@lru_cache(maxsize=2048)  # a few hundred catalog codes per base; Codes are immutable
def catalog_code(system: str, code: str, display: str, base: str) -> Code:
    """A catalog code as a Finding carries it: local codes under the deployment's base."""
    return Code(cat.wire_system(system, base), code, display)


def _key(finding: Finding) -> tuple[object, ...]:
    return (finding.finding_id, finding.present, finding.tags, finding.side)
