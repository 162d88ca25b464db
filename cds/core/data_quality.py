"""The data-quality card (§1.1; cds-hooks.md "Missing prefetch"): unreadable resources, data
not available or incomplete, entries without a resource. Pure."""

from __future__ import annotations

from .card_request import CardRequest
from .card_text import DISCLAIMER, SUMMARY_LIMIT, md, record_line
from .engine import Assessment
from .findingset import EVIDENCE_CAP
from .i18n import N_
from .model import (
    Card,
    CardExtension,
    SourceRef,
)
from .rules import RULE_SET_VERSION


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
