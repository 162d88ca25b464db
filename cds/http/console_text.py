"""The console script's own words, in the page's language.

cds/static/console.js draws cards in the browser; it holds no text of its own. Every label,
status and error it shows is a message id here (marked `N_`, so `make messages` extracts it),
translated on the server and handed to the script as JSON in the page
(`<script type="application/json" id="console-messages">`, data the CSP lets through, never
run). Placeholders are `{name}`, filled by the script.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from babel import Locale

from ..core.i18n import N_, Translator
from ..i18n import SOURCE_LANGUAGE, translator_for

# key -> message id. Card section titles reuse the card builder's ids ("Why", "Safety net").
MESSAGES: dict[str, str] = {
    # the card header
    "indicator.critical": N_("Critical"),
    "indicator.warning": N_("Warning"),
    "indicator.info": N_("Info"),
    # card sections
    "section.nextSteps": N_("What to do next"),
    "section.transfer": N_("Transfer"),
    "section.why": N_("Why"),
    "section.ddimer": N_("D-dimer"),
    "section.notRecorded": N_("Not recorded"),
    "section.alsoNoted": N_("Also noted"),
    "section.caveats": N_("Caveats"),
    "section.safetyNet": N_("Safety net"),
    "source": N_("Source: {source}"),
    # the evidence list
    "evidence.finding": N_("finding"),
    "evidence.recordedAbsent": N_("recorded absent"),
    "evidence.undated": N_("undated"),
    "evidence.record": N_("Record: {reference}"),
    "side.left": N_("left"),
    "side.right": N_("right"),
    "side.both": N_("both"),
    # the Wells table
    "wells.title": N_("Wells score {score}"),
    "wells.titleClassified": N_("Wells score {score}: {classification}"),
    "wells.likely": N_("DVT likely"),
    "wells.unlikely": N_("DVT unlikely"),
    "wells.incomplete": N_("incomplete"),
    "wells.item": N_("Item"),
    "wells.recorded": N_("Recorded"),
    "wells.points": N_("Points"),
    "wells.present": N_("present"),
    "wells.absent": N_("absent"),
    "wells.total": N_("Total"),
    "wells.noItem": N_("no item recorded"),
    "wells.range": N_("Could be {low} to {high} once the items not recorded are known."),
    # the proposed ServiceRequest
    "order.priority": N_("priority {priority}"),
    "order.priority.routine": N_("priority routine"),
    "order.priority.urgent": N_("priority urgent"),
    "order.priority.asap": N_("priority asap"),
    "order.priority.stat": N_("priority stat"),
    "order.performer": N_("performer {performer}"),
    "smart.noLauncher": N_("{label} (an EHR launches it: {url})"),
    # the testers' disclosure: labels translated, the values are ids and stay as sent
    "tester.title": N_("Details for testers"),
    "tester.detail": N_("Detail as the EHR receives it (markdown)"),
    "tester.rule": N_("Rule"),
    "tester.variant": N_("Variant"),
    "tester.tier": N_("Tier"),
    "tester.route": N_("Route"),
    "tester.coveredBy": N_("Covered by"),
    "tester.mergedInto": N_("Merged into"),
    "tester.card": N_("Card"),
    "tester.suggestions": N_("Suggestions"),
    "tester.evaluatedAt": N_("Evaluated at"),
    "tester.language": N_("Language"),
    "tester.missingItems": N_("Missing items"),
    "tester.sourceTopic": N_("Source topic"),
    "tester.appLinks": N_("App links"),
    # accept, override, dismiss, undo
    "action.accept": N_("Accept"),
    "action.dismiss": N_("Dismiss"),
    "action.dismissed": N_("Dismissed"),
    "action.override": N_("Override"),
    "action.overrideReason": N_("Override reason"),
    "action.chooseReason": N_("Choose a reason…"),
    "action.comment": N_("Comment (optional)"),
    "action.overridden": N_("Overridden ({reason})"),
    "action.undo": N_("Undo"),
    "action.accepting": N_("Accepting the draft ServiceRequest: {order}."),
    "action.accepted": N_("Accepted: draft ServiceRequest {order}"),
    "action.undone": N_("Accept undone: nothing was sent."),
    "feedback.sending": N_("Sending feedback…"),
    "feedback.stored": N_("feedback stored"),
    "feedback.duplicate": N_("already recorded"),
    "feedback.unknownCard": N_("the service did not know this card"),
    "feedback.result": N_("{verb}; {outcome}."),
    "feedback.failed": N_("Feedback not stored: {problem}"),
    # the same service proposed by several cards
    "quoted": N_("“{text}”"),
    "conflict.card": N_("Conflict: {cards} also proposes {service}. Accept only one of them."),
    "conflict.pending": N_("Conflict: {service} is being accepted on the card “{card}”."),
    "conflict.accepted": N_("Conflict: {service} was accepted on the card “{card}”."),
    "conflict.summary": N_(
        "Several cards propose the same service ({services}): accept it on one card only."
    ),
    # requests and their answers
    "http.status": N_("HTTP {status}"),
    "http.network": N_("network error"),
    "request.refused": N_("Request refused ({why})."),
    "request.noCards": N_("No cards: {problem}"),
    "request.waiting": N_("Waiting for the answer…"),
    "request.asking": N_("Asking {url}…"),
    "request.nothingApplies": N_("No cards: nothing applies."),
    "json.invalid": N_("Not valid JSON."),
    "json.invalidBecause": N_("Not valid JSON: {error}"),
    "json.notObject": N_("Not a JSON object."),
    "json.pasteObject": N_("Paste a JSON object: a CDS Hooks request or a FHIR Bundle."),
    "evaluated.at": N_("Evaluated as of {time}"),
    "evaluated.serverClock": N_("Evaluated as of the server's clock (no card states the time)."),
    "sample.loading": N_("Loading {name}…"),
    "sample.failed": N_("Sample {name} could not be loaded (HTTP {status})"),
    "sample.loaded": N_("Loaded {name}; press “Get cards”."),
}

# The displays of the codes a card's ServiceRequest may carry (cds.core.routes): the wire keeps
# the CodeSystem's display; the console shows it in the page's language.
# tests/test_console_i18n.py fails when a route code's display is missing here.
ORDER_DISPLAYS: tuple[str, ...] = (
    N_("Patient referral"),
    N_("Diagnostic procedure"),
    N_("Refer to accident and emergency department"),
    N_("Accident & emergency"),
    N_("Referral to DVT clinic"),
    N_("Phlebology"),
    N_("Referral to varicose vein clinic"),
    N_("Referral to vascular surgery service"),
    N_("Vascular surgery"),
    N_("Ankle brachial pressure index"),
    N_("Exercise (treadmill) ankle-brachial index"),
    N_("Toe-brachial index"),
    N_("Referral to neurology service"),
    N_("Neurology"),
    N_("Neurosurgical referral"),
    N_("Neurosurgery"),
    N_("MSCC coordinator / acute oncology"),
    N_("Medical oncology"),
    N_("Referral to trauma and orthopaedics service"),
    N_("Trauma & orthopaedics"),
    N_("Referral to rheumatology service"),
    N_("Rheumatology"),
    N_("Referral to general practitioner"),
    N_("General practice"),
    N_("Physiotherapy referral"),
)

# The services' discovery titles (cds.registry), as the console's service list shows them.
SERVICE_TITLES: tuple[str, ...] = (
    N_("Calf pain red-flag triage"),
    N_("Calf pain red-flag triage (encounter start)"),
)

# Integers enough to meet every CLDR plural category of a language's whole numbers.
_PLURAL_SAMPLES = range(0, 200)


def plural_forms(t: Translator, form: Callable[[int], str]) -> dict[str, str]:
    """CLDR plural category ("one", "few", "many", "other") -> the catalog's form for it;
    `form(n)` is the message's `t.ngettext(...)` for n.

    The browser names the category of a number (Intl.PluralRules) but cannot evaluate gettext's
    plural expression under the CSP; each category's form is the catalog's form for a number of
    that category, so Russian gets its three forms and English its two."""
    locale = Locale.parse(t.language)
    forms: dict[str, str] = {}
    for n in _PLURAL_SAMPLES:
        forms.setdefault(str(locale.plural_form(n)), form(n))
    return forms


def _plurals(t: Translator) -> dict[str, dict[str, str]]:
    # Literal ngettext calls, so that `make messages` extracts each as one plural entry.
    return {
        "request.cards": plural_forms(
            t, lambda n: t.ngettext("{n} card from {url}", "{n} cards from {url}", n)
        ),
        "evidence.more": plural_forms(
            t,
            lambda n: t.ngettext(
                "and {n} more record (the {shown} most recent are listed)",
                "and {n} more records (the {shown} most recent are listed)",
                n,
            ),
        ),
        "action.undoDelay": plural_forms(
            t,
            lambda n: t.ngettext(
                "The feedback is sent in {n} second unless you undo.",
                "The feedback is sent in {n} seconds unless you undo.",
                n,
            ),
        ),
    }


@functools.cache
def console_messages(language: str) -> dict[str, Any]:
    """Everything console.js says, in a supported `language` (computed once per language)."""
    t = translator_for(language)
    return {
        "language": language,
        # English cards write ISO dates (cds.core.i18n.English); other languages their own.
        "isoDates": language == SOURCE_LANGUAGE,
        "messages": {key: t.gettext(message) for key, message in MESSAGES.items()},
        "plurals": _plurals(t),
        "displays": {display: t.gettext(display) for display in ORDER_DISPLAYS},
    }
