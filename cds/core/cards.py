"""The plan -> typed CDS Hooks cards (clinical-rules.md §7, rule set 2026.2).

Pure. One card per planned rule (§8 order), then the data-quality card when data was missing
or unreadable. Texts come from `core.wording` and are rendered through a `Translator`. A card
that fails to build is logged with its rule id and replaced by a minimal card (§1.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from . import wording
from .card_request import CardRequest
from .card_text import (
    DISCLAIMER,
    SUMMARY_LIMIT,
    as_sent,
    cutoff_number,
    date_text,
    dimer_unit,
    md,
    record_line,
    sent_text,
    value_text,
)
from .checklists import item_label, net_line
from .compose import Planned, compose, safety_net_topic
from .data_quality import data_quality_card
from .engine import Assessment, FiredRule
from .findings import FINDINGS
from .findingset import EVIDENCE_CAP
from .i18n import N_, Translator
from .model import (
    TAG_NOT_INTERPRETABLE_BLOCKS,
    TAG_SUPPORTING,
    AppContext,
    Card,
    CardExtension,
    Code,
    EvidenceItem,
    Finding,
    Link,
    Referral,
    Side,
    SourceRef,
    Suggestion,
    Tier,
)
from .routes import route_for, wire_code
from .rules import RULE_SET_VERSION, Rule
from .scores import ABSENT, INCOMPLETE, LIKELY, NEGATIVE, POSITIVE, DDimerResult
from .summary_slots import SummarySlots

log = logging.getLogger(__name__)

RULE_SYSTEM_PATH = "/CodeSystem/rule"
OVERRIDE_SYSTEM_PATH = "/CodeSystem/override-reason"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-referred", N_("Already referred")),
    ("patient-declined", N_("Patient declined")),
    ("alternative-diagnosis-more-likely", N_("Alternative diagnosis more likely")),
    ("not-clinically-relevant", N_("Not clinically relevant")),
)
SMART_LINK_LABEL = N_("Complete the red-flag check")

_PRIORITY_WORDS = {"stat": N_("emergency"), "urgent": N_("urgent"), "routine": N_("routine")}


@dataclass
class _CardBuilder:
    planned: Planned
    assessment: Assessment
    request: CardRequest
    # Read on nearly every line of a card: plain attributes, set once.
    t: Translator = field(init=False)
    fired: FiredRule = field(init=False)
    rule: Rule = field(init=False)

    def __post_init__(self) -> None:
        self.t = self.request.translator
        self.fired = self.planned.fired
        self.rule = self.fired.rule

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule.id, self.fired.variant.name)

    @cached_property
    def slots(self) -> SummarySlots:
        return SummarySlots(
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

    def step_templates(self) -> tuple[str, ...]:
        """The variant's §7.6 steps; a principle-5 group's own where §7.6 gives them for a
        one-template rule (R-PE-SIGN)."""
        for group in self.assessment.groups:
            steps = wording.GROUP_NEXT_STEPS.get((self.rule.id, group))
            if steps:
                return steps
        return wording.NEXT_STEPS[self.key]

    def steps(self) -> list[str]:
        slots = self.slots
        lines = [slots.fill(self.t.gettext(step)) for step in self.step_templates()]
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
            lines.append(self.referral_step())
        return list(dict.fromkeys(lines))

    def referral_step(self) -> str:
        return self.t.gettext(N_("Referral: {route}.")).format(route=self.route_text())

    def why(self) -> tuple[list[str], list[Finding], int]:
        """The "Why" lines, the records they cite and how many records there were in all."""
        lateral = self.rule.lateral
        shown, total = self.fired.cited
        lines = [f"- {record_line(r, self.t, lateral=lateral)}" for r in shown]
        if total > len(shown):
            more = total - len(shown)
            lines.append(
                "- "
                + self.t.ngettext("and {n} more record", "and {n} more records", more).format(
                    n=self.t.number(more, 0)
                )
            )
        # Principle 7: a sign no card cites is named here, on the first card.
        signs = self.fired.signs_noted[:EVIDENCE_CAP]
        note = self.t.gettext(N_("also recorded: assess it too"))
        lines += [f"- {record_line(r, self.t, lateral=True, note=note)}" for r in signs]
        return lines, [*shown, *signs], total + len(signs)

    @cached_property
    def wells_applies(self) -> bool:
        """The Wells score and its D-dimer belong on this DVT card: not for a principle-5 group
        (§1.5), nor where a DVT or PE is already on record (it scores a suspected DVT)."""
        return (
            self.rule.scored and not self.assessment.groups and self.fired.variant.name != DIAGNOSED
        )

    def score(self, missing: list[str], ddimer: list[str]) -> list[str]:
        t, wells = self.t, self.assessment.wells
        lines: list[str] = []
        if not self.wells_applies:
            if self.assessment.groups:
                lines.append(t.gettext(N_("Validated scores do not apply.")))
            else:
                lines.append(t.gettext(N_("Wells score not used: DVT or PE is on record.")))
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
                "{n} point recorded", "{n} points recorded", abs(wells.score)
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
        lines.extend(ddimer)
        return lines

    def ddimer_lines(self) -> list[str]:
        t = self.t
        results = self.assessment.d_dimers.results
        if not results:
            return [t.gettext(N_("D-dimer: none in the last 72 h."))]
        lines = []
        for result in results[:3]:
            record, m = result.record, result.record.measurement
            # A value that could not be interpreted is shown as sent, its unit unchanged.
            value = "" if m is None else value_text(m, t) if record.interpretable else as_sent(m)
            value = value or t.gettext(N_("result"))
            head = t.gettext(N_("D-dimer {value}, {date}")).format(
                value=value, date=date_text(record, t)
            )
            if result.state == NEGATIVE and result.cutoff is not None:
                tail = _with_cutoff(result, t, _BELOW)
            elif result.state == NEGATIVE and result.reason:
                tail = t.gettext(N_("negative ({reason})")).format(reason=t.gettext(result.reason))
            elif result.state == NEGATIVE:
                tail = t.gettext(N_("negative"))
            elif (
                result.state == POSITIVE
                and result.reason == N_("positive")
                and result.cutoff is not None
            ):
                tail = _with_cutoff(result, t, _OVER)
            elif result.state == POSITIVE and result.reason == N_("positive"):
                tail = t.gettext(N_("positive"))  # a coded or worded result: no cut-off to name
            elif result.state == POSITIVE and result.cutoff is not None:
                # Over the cut-off with a lab flag that did not decide it: both are named.
                tail = _with_cutoff(result, t, _OVER_FLAGGED, reason=t.gettext(result.reason))
            elif result.state == POSITIVE:
                tail = t.gettext(N_("positive ({reason})")).format(reason=t.gettext(result.reason))
            else:
                tail = t.gettext(N_("cannot exclude DVT ({reason})")).format(
                    reason=t.gettext(result.reason)
                )
            lines.append(f"{head}: {tail}.")
        # The sign that blocks a negative D-dimer is named once, among the steps (§7.6).
        return lines

    def caveats(self) -> list[str]:
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
                    value=as_sent(record.measurement) or t.gettext(N_("(no value)")),
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
                        value=as_sent(record.measurement) or t.gettext(N_("(no value)")),
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
            net_line(line, fs, self.t, self.fired.legs)
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
        why, cited_records, evidence_total = self.why()
        missing_items = self.slots.missing
        missing = [item_label(item, t) for item in missing_items]
        detail: list[str] = [
            "**" + t.gettext(N_("What to do next")) + "**",
            *(f"- {s}" for s in steps),
        ]
        detail += ["", "**" + t.gettext(N_("Why")) + "**", *why]
        is_dvt = rule.scored
        ddimer = self.ddimer_lines() if self.wells_applies else []
        score = self.score(missing, ddimer) if is_dvt else []
        if is_dvt:
            # List items: lines of one paragraph would run together in rendered markdown.
            detail += ["", "**" + t.gettext(N_("Score")) + "**", *(f"- {line}" for line in score)]
        elif missing:
            # A list item, as every block's lines are: a plain line would run into the heading.
            items = ", ".join(missing)
            detail += [
                "",
                "**" + t.gettext(N_("Not recorded")) + "**",
                f"- {items[:1].upper()}{items[1:]}.",
            ]
        also = self.also_noted()
        if also:
            detail += ["", "**" + t.gettext(N_("Also noted")) + "**", *also]
        caveats = self.caveats()
        if caveats:
            detail += ["", "**" + t.gettext(N_("Caveats")) + "**", *(f"- {c}" for c in caveats)]
        transfer = None
        net = self.safety_net()
        if fired.tier is Tier.EMERGENCY:
            transfer = self.transfer()
            detail += ["", "**" + t.gettext(N_("Transfer")) + "**", f"- {transfer}"]
        elif net:
            detail += [
                "",
                "**" + t.gettext(N_("Safety net")) + "**",
                *(f"- {line}" for line in net),
            ]
        source = fired.source
        label = f"{t.gettext(source.label)} (calf-cds {RULE_SET_VERSION})"
        detail += [
            "",
            t.gettext(N_("Source: {source}")).format(source=label),
            "",
            "_" + t.gettext(DISCLAIMER) + "_",
        ]
        suggestion = self.suggestion()
        wells_missing = (
            [i.finding_id for i in self.assessment.wells.not_recorded] if self.wells_applies else []
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
        referral = self.referral_step()
        extension = CardExtension(
            rule_id=rule.id,
            tier=str(fired.tier),
            route=fired.route,
            variant=fired.variant.name,
            evidence=tuple(self._evidence_item(r) for r in cited_records),
            evidence_total=evidence_total,
            wells=self.assessment.wells.as_data(t) if self.wells_applies else None,
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
            ddimer=tuple(ddimer),
            also_noted=tuple(line.removeprefix("- ") for line in also),
            caveats=tuple(caveats),
            safety_net=tuple(net) if transfer is None else (),
            transfer=transfer,
            # The step the suggestion drafts, so that a sidebar shows it once, by its button.
            referral_line=referral if suggestion and referral in steps else None,
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

    def _app_context(self, missing: tuple[str, ...]) -> AppContext:
        reference_time = self.request.reference_time  # testers' requests; an EHR's never sets one
        return AppContext(
            hook_instance=self.request.hook_instance,
            rule_id=self.rule.id,
            findings=missing,
            language=self.t.language,
            evaluation_time=reference_time.isoformat() if reference_time is not None else None,
        )

    def _evidence_item(self, record: Finding) -> EvidenceItem:
        m = record.measurement
        side = (
            None
            if record.side is Side.UNKNOWN
            else ("both" if record.side is Side.BILATERAL else str(record.side))
        )
        value = unit = None
        if m is not None and record.interpretable:
            value, unit = value_text(m, self.t), m.unit
        elif m is not None:  # shown as sent, its unit unchanged (never "300 U/L FEU")
            value, unit = sent_text(m) or None, m.sent_unit
        return EvidenceItem(
            finding_id=record.finding_id,
            name=self.t.gettext(record.name),
            reference=record.reference,
            date=record.when.date().isoformat() if record.when else None,
            value=value,
            side=side,
            present=record.present,
            raw_value=m.value if m is not None else None,
            unit=unit,
            interpretable=record.interpretable,
        )


DIAGNOSED = "diagnosed"  # R-DVT-PATHWAY's variant for a DVT or PE on record (§7.4)

# A D-dimer's state with the cut-off used: (plain, age-adjusted) wording (§5 "Display").
_BELOW = (
    N_("negative, below the cut-off {cutoff} {unit}"),
    N_("negative, below the age-adjusted cut-off, {cutoff} {unit}"),
)
_OVER = (
    N_("positive (cut-off {cutoff} {unit})"),
    N_("positive (age-adjusted cut-off {cutoff} {unit})"),
)


_OVER_FLAGGED = (
    N_("positive ({reason}; cut-off {cutoff} {unit})"),
    N_("positive ({reason}; age-adjusted cut-off {cutoff} {unit})"),
)


def _with_cutoff(
    result: DDimerResult, t: Translator, wording: tuple[str, str], reason: str = ""
) -> str:
    text = t.gettext(wording[result.age_adjusted])
    return text.format(
        cutoff=cutoff_number(result, t),
        unit=dimer_unit(result.record.measurement, t),
        reason=reason,
    )


@lru_cache(maxsize=64)  # the same four on every card of a base and language
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
