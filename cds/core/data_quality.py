"""The data-quality card (§1.1; cds-hooks.md "Missing prefetch"): unreadable resources, data
not available or incomplete, entries without a resource. Pure."""

from __future__ import annotations

from .card_request import CardRequest
from .card_text import DISCLAIMER, SUMMARY_LIMIT, md, record_line
from .engine import Assessment
from .findingset import EVIDENCE_CAP
from .i18n import N_, Translator
from .model import (
    CUT_ENTRIES,
    CUT_ERROR,
    CUT_FAILED,
    CUT_NOT_FETCHED,
    CUT_PAGE_CAP,
    CUT_SIZE,
    CUT_TIME,
    Card,
    CardExtension,
    QueryCut,
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
            "{n} resource could not be read: red flags may be missing",
            "{n} resources could not be read: red flags may be missing",
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
                    "and {n} more record", "and {n} more records", n - EVIDENCE_CAP
                ).format(n=n - EVIDENCE_CAP)
            )
    elif request.unsatisfied_prefetch:
        summary = t.gettext(N_("Data not available ({keys}): red flags may be missing")).format(
            keys=", ".join(request.unsatisfied_prefetch)
        )
    elif request.incomplete_queries:
        summary = t.gettext(N_("Data fetch incomplete ({keys}): red flags may be missing")).format(
            keys=", ".join(dict.fromkeys(cut.key for cut in request.incomplete_queries))
        )
    else:
        n = len(skipped)
        summary = t.ngettext(
            "{n} Bundle entry had no resource: red flags may be missing",
            "{n} Bundle entries had no resource: red flags may be missing",
            n,
        ).format(n=n)
    for key in request.unsatisfied_prefetch:
        lines.append(
            "- "
            + t.gettext(N_("Prefetch {key}: not available and not fetched; not evaluated.")).format(
                key=md(key)
            )
        )
    for cut in request.incomplete_queries:
        lines.append(
            "- "
            + t.gettext(N_("Query {key} incomplete ({reason}): red flags may be missing.")).format(
                key=md(cut.key), reason=cut_text(cut, t)
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
            unreadable=len(unreadable),
            unsatisfied_prefetch=tuple(request.unsatisfied_prefetch),
            incomplete_prefetch=tuple(dict.fromkeys(c.key for c in request.incomplete_queries)),
            language=t.language,
            evaluated_at=assessment.evaluated_at.isoformat(),
        ),
    )


_CUT_WORDS = {
    CUT_PAGE_CAP: N_("the page limit was reached"),
    CUT_TIME: N_("the time limit ran out"),
    CUT_SIZE: N_("a page was over the size limit"),
    CUT_ENTRIES: N_("the entry limit was reached"),
    CUT_ERROR: N_("a later page could not be read"),
    CUT_NOT_FETCHED: N_("later pages not fetched: no FHIR server this service may read"),
    CUT_FAILED: N_("later pages could not be fetched"),
}


def cut_text(cut: QueryCut, t: Translator) -> str:
    """Why a query was not read in full, and how much of it was: "the page limit was reached;
    5 pages read"."""
    why = t.gettext(_CUT_WORDS.get(cut.cause, N_("not every page was read")))
    if not cut.pages:
        return why
    read = t.ngettext("{n} page read", "{n} pages read", cut.pages).format(n=cut.pages)
    return f"{why}; {read}"
