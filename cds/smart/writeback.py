"""The resources the app writes to the EHR, built and validated with fhir.resources.

One transaction Bundle: one Observation per statement and one QuestionnaireResponse holding the
same answers. Each Observation: status `final`, category `exam`, the row's catalog code,
`valueBoolean` true (present) or false (absent: the explicit absence the reader reads as absent,
§2 "Presence"), `bodySite` lower limb with its laterality for a leg finding, `subject`,
`effectiveDateTime` now, `performer` the signed-in user (`fhirUser`), and `derivedFrom` the
QuestionnaireResponse (SDC extraction keeps that link). References inside the Bundle are
`urn:uuid:` fullUrls, which the EHR resolves when it applies the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference

from ..core import findings as cat
from ..core.i18n import ENGLISH, Translator
from ..core.model import Side
from ..core.rules import RULE_SET_VERSION
from ..fhir.resources import validate_resource
from .answers import Statement
from .checklist import LOWER_LIMB, sections
from .questionnaire import LEG_NAMES, canonical_url, coding

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_LATERALITY = {
    Side.LEFT: (cat.LEFT_CODE, "Left"),
    Side.RIGHT: (cat.RIGHT_CODE, "Right"),
    Side.BILATERAL: (cat.BILATERAL_CODE, "Right and left"),
}
_SITE_TEXT = {
    Side.LEFT: "Left lower limb",
    Side.RIGHT: "Right lower limb",
    Side.BILATERAL: "Both lower limbs",
}


@dataclass(frozen=True)
class Author:
    """Who writes, for whom, when: the launch's patient and user, and the app's clock."""

    patient: str  # "Patient/<id>"
    performer: str | None  # the fhirUser reference, None when the EHR did not say
    when: datetime


@dataclass(frozen=True)
class Transaction:
    bundle: dict[str, Any]
    statements: tuple[Statement, ...]  # entry i (i < len) is statement i; then the QR, if any
    with_response: bool = True


def _body_site(statement: Statement) -> CodeableConcept | None:
    if not statement.row.leg_site:
        return None
    code, display = LOWER_LIMB
    codings = [Coding(system=cat.SNOMED, code=code, display=display)]
    text = "Lower limb"
    if statement.side in _LATERALITY:
        side_code, side_display = _LATERALITY[statement.side]
        codings.append(Coding(system=cat.SNOMED, code=side_code, display=side_display))
        text = _SITE_TEXT[statement.side]
    return CodeableConcept(coding=codings, text=text)


def observation(
    statement: Statement,
    author: Author,
    *,
    fhir_base: str,
    derived_from: str | None,
    t: Translator = ENGLISH,
) -> Observation:
    row = statement.row
    return Observation(
        status="final",
        category=[
            CodeableConcept(
                coding=[Coding(system=OBSERVATION_CATEGORY, code="exam", display="Exam")]
            )
        ],
        code=CodeableConcept(coding=[coding(row, fhir_base)], text=t.gettext(row.label)),
        subject=Reference(reference=author.patient),
        effectiveDateTime=author.when,
        performer=[Reference(reference=author.performer)] if author.performer else None,
        valueBoolean=statement.present,
        bodySite=_body_site(statement),
        derivedFrom=[Reference(reference=derived_from)] if derived_from else None,
    )


def _answer(present: bool) -> list[QuestionnaireResponseItemAnswer]:
    return [QuestionnaireResponseItemAnswer(valueBoolean=present)]


def questionnaire_response(
    statements: Sequence[Statement], author: Author, *, fhir_base: str, t: Translator = ENGLISH
) -> QuestionnaireResponse:
    """The same answers, in the Questionnaire's structure (section, question, leg)."""
    answered = {name: s.present for s in statements for name in s.fields}
    groups = []
    for section in sections():
        items = []
        for row in section.rows:
            label = t.gettext(row.label)
            if not row.sided:
                if row.key in answered:
                    items.append(
                        QuestionnaireResponseItem(
                            linkId=row.key, text=label, answer=_answer(answered[row.key])
                        )
                    )
                continue
            legs = [
                QuestionnaireResponseItem(
                    linkId=name, text=t.gettext(LEG_NAMES[side]), answer=_answer(answered[name])
                )
                for side in (Side.LEFT, Side.RIGHT)
                if (name := f"{row.key}:{side.value}") in answered
            ]
            if legs:
                items.append(QuestionnaireResponseItem(linkId=row.key, text=label, item=legs))
        if items:
            groups.append(
                QuestionnaireResponseItem(
                    linkId=section.key, text=t.gettext(section.title), item=items
                )
            )
    return QuestionnaireResponse(
        questionnaire=f"{canonical_url(fhir_base)}|{RULE_SET_VERSION}",
        status="completed",
        subject=Reference(reference=author.patient),
        authored=author.when,
        author=Reference(reference=author.performer) if author.performer else None,
        item=groups,
    )


def _entry(full_url: str, resource: Observation | QuestionnaireResponse) -> BundleEntry:
    return BundleEntry(
        fullUrl=full_url,
        resource=resource,
        request=BundleEntryRequest(method="POST", url=resource.get_resource_type()),
    )


def transaction(
    statements: Sequence[Statement],
    author: Author,
    *,
    fhir_base: str,
    t: Translator = ENGLISH,
    with_response: bool = True,
) -> Transaction:
    """The transaction Bundle for the statements; every resource in it validated (R4B).
    Without `with_response` (the EHR did not grant creating QuestionnaireResponses) the
    Observations go alone, deriving from nothing.

    Raises ValueError naming the resource and element when one is invalid (a bug: the app
    built it), before anything is sent.
    """
    if not statements:
        raise ValueError("nothing to write")
    response_url = f"urn:uuid:{uuid.uuid4()}" if with_response else None
    entries = [
        _entry(
            f"urn:uuid:{uuid.uuid4()}",
            observation(s, author, fhir_base=fhir_base, derived_from=response_url, t=t),
        )
        for s in statements
    ]
    if response_url is not None:
        response = questionnaire_response(statements, author, fhir_base=fhir_base, t=t)
        entries.append(_entry(response_url, response))
    bundle = Bundle(type="transaction", entry=entries).model_dump(mode="json", exclude_none=True)
    for entry in bundle["entry"]:
        validate_resource(entry["resource"])
    validate_resource(bundle)
    return Transaction(bundle, tuple(statements), with_response)
