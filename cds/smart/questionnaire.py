"""The FHIR R4 Questionnaire of the red-flag check, generated from the checklist.

Published at `GET /fhir/Questionnaire/calf-red-flag-check` and answered by the
QuestionnaireResponse the app writes. Built with fhir.resources (R4B models, as the rest of
calf-cds). Items are in the SDC observation-extraction shape: each answerable item is a boolean
(true = present, false = absent, unanswered = not examined) carrying the catalog code and the
`sdc-questionnaire-observationExtract` extension, so an SDC extractor makes the same code and
value the app writes. A leg question is a group with one item per leg.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.questionnaire import Questionnaire, QuestionnaireItem

from ..core.i18n import ENGLISH, N_, Translator
from ..core.model import Side
from ..core.rules import RULE_SET_VERSION
from .checklist import Row, sections
from .prefill import LEGS, field_name

QUESTIONNAIRE_ID = "calf-red-flag-check"
OBSERVATION_EXTRACT = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract"
)
LEG_NAMES = {Side.LEFT: N_("Left leg"), Side.RIGHT: N_("Right leg")}


def canonical_url(fhir_base: str) -> str:
    return f"{fhir_base.rstrip('/')}/Questionnaire/{QUESTIONNAIRE_ID}"


def coding(row: Row, fhir_base: str) -> Coding:
    """The catalog code a row writes (local codes under `<fhir_base>/CodeSystem/finding`)."""
    code = row.code
    return Coding(system=code.system_url(fhir_base), code=code.code, display=code.display)


def _answerable(link_id: str, text: str, row: Row, fhir_base: str) -> QuestionnaireItem:
    return QuestionnaireItem(
        linkId=link_id,
        text=text,
        type="boolean",
        code=[coding(row, fhir_base)],
        extension=[Extension(url=OBSERVATION_EXTRACT, valueBoolean=True)],
    )


def _item(row: Row, fhir_base: str, t: Translator) -> QuestionnaireItem:
    label = t.gettext(row.label)
    if not row.sided:
        return _answerable(row.key, label, row, fhir_base)
    legs = [
        _answerable(field_name(row, side), t.gettext(LEG_NAMES[side]), row, fhir_base)
        for side in LEGS
    ]
    return QuestionnaireItem(linkId=row.key, text=label, type="group", item=legs)


def build(fhir_base: str, t: Translator = ENGLISH) -> Questionnaire:
    groups = [
        QuestionnaireItem(
            linkId=section.key,
            text=t.gettext(section.title),
            type="group",
            item=[_item(row, fhir_base, t) for row in section.rows],
        )
        for section in sections()
    ]
    return Questionnaire(
        id=QUESTIONNAIRE_ID,
        url=canonical_url(fhir_base),
        version=RULE_SET_VERSION,
        name="CalfRedFlagCheck",
        title="Calf pain red-flag check",
        status="active",
        subjectType=["Patient"],
        publisher="calf-cds",
        description=(
            "The Wells items (NICE NG158) and the red-flag examination items calf-cds cards list "
            "as not recorded. Each item is answered present (true), absent (false) or left "
            "unanswered (not examined); leg items are answered per leg."
        ),
        item=groups,
    )


@functools.lru_cache(maxsize=8)
def _cached(fhir_base: str) -> bytes:
    return json.dumps(build(fhir_base).model_dump(mode="json", exclude_none=True)).encode()


def as_json(fhir_base: str) -> dict[str, Any]:
    """The Questionnaire as R4 JSON (built once per base; a fresh copy per call)."""
    value: dict[str, Any] = json.loads(_cached(fhir_base))
    return value
