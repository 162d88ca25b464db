"""Typed cards -> CDS Hooks 2.0 JSON (cds-hooks.md "Response"), serialised once.

Optional fields that do not apply are left out, never sent as null, "", [] or {}. The draft
ServiceRequest of a suggestion is built with fhir.resources
(`cds.fhir.service_request_fast`). The card
extension is `extension["example.calf-cds"]` (docs/architecture.md "Wire decisions").
"""

from __future__ import annotations

from typing import Any

import msgspec

from .core.model import AppContext, Card, CardExtension, Code, EvidenceItem, Link, Suggestion
from .fhir.service_request_fast import service_request_fast
from .request_extension import EXTENSION_KEY
from .store import RuleReport, RuleReportRow


def coding(code: Code) -> dict[str, str]:
    out = {"system": code.system, "code": code.code}
    if code.display:
        out["display"] = code.display
    return out


_LEFT_OUT_WHEN_EMPTY = (str, list, dict)


def _compact(**fields: Any) -> dict[str, Any]:
    """The fields that apply: optional ones are left out when None, "", [] or {}; 0 and False
    are values and are sent."""
    return {
        key: value
        for key, value in fields.items()
        if value or not (value is None or isinstance(value, _LEFT_OUT_WHEN_EMPTY))
    }


def _evidence(item: EvidenceItem) -> dict[str, Any]:
    return _compact(
        finding=item.finding_id,
        name=item.name,
        reference=item.reference,
        date=item.date,
        value=item.value,
        side=item.side,
        present=item.present,
        rawValue=item.raw_value,
        unit=item.unit,
        interpretable=None if item.interpretable else False,
    )


def extension(ext: CardExtension) -> dict[str, Any]:
    return _compact(
        ruleId=ext.rule_id,
        tier=ext.tier,
        route=ext.route,
        variant=ext.variant,
        evidence=[_evidence(item) for item in ext.evidence],
        evidenceTotal=ext.evidence_total if ext.evidence_total > len(ext.evidence) else None,
        wells=ext.wells,
        notRecorded=list(ext.not_recorded),
        nextSteps=list(ext.next_steps),
        coveredBy=ext.covered_by,
        mergedInto=ext.merged_into,
        ddimer=list(ext.ddimer),
        alsoNoted=list(ext.also_noted),
        caveats=list(ext.caveats),
        safetyNet=list(ext.safety_net),
        transfer=ext.transfer,
        referralLine=ext.referral_line,
        missingItems=list(ext.missing_items),
        unreadable=ext.unreadable or None,
        unsatisfiedPrefetch=list(ext.unsatisfied_prefetch),
        incompletePrefetch=list(ext.incomplete_prefetch),
        language=ext.language,
        evaluatedAt=ext.evaluated_at,
    )


def _suggestion(suggestion: Suggestion) -> dict[str, Any]:
    resource = service_request_fast(suggestion.referral)
    return {
        "label": suggestion.label,
        "uuid": suggestion.uuid,
        "isRecommended": suggestion.is_recommended,
        "actions": [
            {
                "type": "create",
                "description": suggestion.label,
                "resource": resource,
            }
        ],
    }


def _link(link: Link) -> dict[str, Any]:
    context = link.app_context
    return _compact(
        label=link.label,
        url=link.url,
        type=link.type,
        appContext=None if context is None else _app_context(context),
    )


def _app_context(context: AppContext) -> str:
    """CDS Hooks sends appContext as a string: the JSON of the context, keys in this order."""
    fields: dict[str, Any] = {
        "hookInstance": context.hook_instance,
        "ruleId": context.rule_id,
        "findings": list(context.findings),
    }
    if context.evaluation_time is not None:
        fields["evaluationTime"] = context.evaluation_time
    fields["language"] = context.language
    return msgspec.json.encode(fields).decode()


def card(value: Card) -> dict[str, Any]:
    """One card as CDS Hooks 2.0 JSON."""
    source = _compact(
        label=value.source.label,
        url=value.source.url,
        topic=coding(value.source.topic) if value.source.topic else None,
    )
    out: dict[str, Any] = {
        "uuid": value.uuid,
        "summary": value.summary,
        "indicator": value.indicator,
        "source": source,
    }
    if value.detail:
        out["detail"] = value.detail
    if value.suggestions:
        out["suggestions"] = [_suggestion(s) for s in value.suggestions]
        out["selectionBehavior"] = "at-most-one"
    if value.override_reasons:
        out["overrideReasons"] = [coding(c) for c in value.override_reasons]
    if value.links:
        out["links"] = [_link(link) for link in value.links]
    out["extension"] = {EXTENSION_KEY: extension(value.extension)}
    return out


def cards(values: list[Card]) -> dict[str, Any]:
    """The service response body: `{"cards": [...]}` (always present, [] when nothing fits)."""
    return {"cards": [card(value) for value in values]}


def report(report: RuleReport) -> dict[str, Any]:
    """The JSON shape of a report (also `calf-cds report --format json`).

    `ruleId` null is the data-quality cards' row; `overrideRate` null means no outcome yet.
    """
    return {
        "rules": [_report_row(row) for row in report.rows],
        "unmatchedFeedback": report.unmatched_feedback,
        "since": report.since.date().isoformat() if report.since else None,
        "generatedAt": report.generated_at.isoformat(timespec="seconds"),
    }


def _report_row(row: RuleReportRow) -> dict[str, Any]:
    return {
        "ruleId": row.rule_id,
        "issued": row.issued,
        "accepted": row.accepted,
        "overridden": row.overridden,
        "overrideRate": row.override_rate,
        "topOverrideReasons": [
            {
                key: value
                for key, value in (
                    ("system", reason.system),
                    ("code", reason.code),
                    ("display", reason.display),
                    ("count", reason.count),
                )
                if value is not None
            }
            for reason in row.top_override_reasons
        ],
    }
