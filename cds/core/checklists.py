"""What a card asks for and warns about (§7.5, §8.3): the "Not recorded" items of its checklist
and the safety-net lines, each left out when the record already answers it. Pure."""

from __future__ import annotations

from dataclasses import replace

from . import wording
from .card_text import SIDED_FINDINGS
from .engine import Assessment, FiredRule
from .findingset import FindingSet
from .i18n import N_, Translator
from .model import TAG_NOT_INTERPRETABLE_BLOCKS, Side


def checklist_key(fired: FiredRule) -> str:
    if fired.rule_id in {"R-PE-SUSPECTED", "R-PE-SIGN"}:
        return "pe"
    return fired.rule.topic


def _still_missing(
    item: wording.CheckItem, fs: FindingSet, legs: frozenset[Side]
) -> wording.CheckItem | None:
    """The item as it is still missing, or None when the record answers it. A finding of the
    leg on a card about both legs, recorded on one of them, is asked for the other by name."""
    if item is wording.SWELLING_SIDE:
        swelling = [r for f in item.findings for r in fs.standing_present(f)]
        return None if not swelling or any(r.side is not Side.UNKNOWN for r in swelling) else item
    records = (
        r
        for f in item.findings
        for r in fs.records(f)
        # A D-dimer, CK, potassium or temperature that could not be interpreted was recorded:
        # every card names it ("check it with the lab"). Any other counts as not recorded.
        if r.in_window
        and (r.interpretable or TAG_NOT_INTERPRETABLE_BLOCKS in r.tags)
        and (r.present or r.when is not None)
        and all(tag in r.tags for tag in item.with_tags)
        and (
            item.analyte is None
            or (r.measurement is not None and r.measurement.analyte == item.analyte)
        )
    )
    if not item.sides and not (legs and _of_the_leg(item)):
        return None if next(records, None) is not None else item  # one record answers it
    sides = {r.side for r in records}
    if not item.sides:
        # The right leg's redness says nothing of the left leg's colour (§2 "same side").
        if sides & {Side.UNKNOWN, Side.BILATERAL} or legs <= sides:
            return None
        if not sides & legs:
            return item
        (other,) = legs - sides  # a card about both legs, one of them recorded
        return replace(item, leg=other)
    if Side.BILATERAL in sides or {Side.LEFT, Side.RIGHT} <= sides:
        return None
    # One leg recorded: the card asks for the other by name, not for "each side" again.
    if item.one_leg_missing and Side.RIGHT in sides:
        return replace(item, label=item.one_leg_missing[0])
    if item.one_leg_missing and Side.LEFT in sides:
        return replace(item, label=item.one_leg_missing[1])
    return item


def not_recorded(fired: FiredRule, assessment: Assessment) -> tuple[wording.CheckItem, ...]:
    """The card topic's checklist items with no record (§7.5)."""
    items = wording.CHECKLISTS[checklist_key(fired)]
    missing = (_still_missing(item, assessment.findings, fired.legs) for item in items)
    return tuple(item for item in missing if item is not None)


# --------------------------------------------------------------------------- safety nets
def _net_item_present(item: wording.NetItem, fs: FindingSet, legs: frozenset[Side]) -> bool:
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
            if not _covers(record.side, legs):
                continue
            return True
    return False


def _of_the_leg(item: wording.CheckItem) -> bool:
    return all(finding in SIDED_FINDINGS for finding in item.findings)


_ONE_LEG_LABELS = {Side.LEFT: N_("{item} (left leg)"), Side.RIGHT: N_("{item} (right leg)")}


def item_label(item: wording.CheckItem, t: Translator) -> str:
    """A "Not recorded" item as the card words it: "skin colour", "skin colour (left leg)"."""
    label = t.gettext(item.label)
    if item.leg is None:
        return label
    return t.gettext(_ONE_LEG_LABELS[item.leg]).format(item=label)


def _covers(side: Side, legs: frozenset[Side]) -> bool:
    """Whether a record on `side` speaks for every leg the card is about (§2 "same side"): a
    blue right leg does not make "turns blue" needless for a swollen left one."""
    return side in (Side.UNKNOWN, Side.BILATERAL) or legs == {side}


def net_line(
    line: wording.NetLine, fs: FindingSet, t: Translator, legs: frozenset[Side] = frozenset()
) -> str:
    """A safety-net line without the items already recorded present on the card's `legs`
    (§7.5)."""
    kept = [
        [t.gettext(i.text) for i in group if not _net_item_present(i, fs, legs)]
        for group in line.groups
    ]
    template = t.gettext(line.templates[tuple(bool(group) for group in kept)])
    values = {
        name: t.join(group, t.gettext(N_("or")))
        for name, group in zip(("a", "b"), kept, strict=False)
    }
    return template.format(**values) if values else template
