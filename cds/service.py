"""The application layer: one hook call from validated request to cards (no Flask here).

prefetch -> fetch what is missing -> read -> evaluate -> compose -> cards -> store.
Clinical answers never wait on the store: a store failure is logged, the cards still go out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import msgspec

from . import metrics
from .config import Settings
from .core.card_request import CardRequest
from .core.cards import build_cards, override_reasons
from .core.engine import evaluate
from .core.i18n import ENGLISH, N_, Translator
from .core.model import Card, QueryCut
from .core.rules import RULE_SET_VERSION
from .errors import InvalidFields, PrefetchUnsatisfiable, StoreUnavailable, TooLarge
from .fhir import reading
from .fhir.bundle import BundleError, Flattened, flatten
from .fhir.prefetch import (
    CLINICAL_KEYS,
    NEXT_SUFFIX,
    PrefetchRead,
    fetch_templates,
    read_prefetch,
)
from .registry import ServiceDef
from .schemas import FeedbackItem, HookRequest
from .store import FeedbackEntry, FeedbackResult, IssuedCard, OverrideReason, RuleReport

if TYPE_CHECKING:
    from .fhir.fetch import FetchOutcome

log = logging.getLogger("cds.service")


class Store(Protocol):
    """What the service needs from the store (cds.store.Store implements it)."""

    def record_issued(self, cards: Sequence[IssuedCard]) -> None: ...

    def patient_hash(self, patient_id: str) -> str: ...

    def record_feedback(self, entries: Sequence[FeedbackEntry]) -> FeedbackResult: ...

    def report(self, since: datetime | None = None) -> RuleReport: ...

    def ping(self) -> bool: ...

    def claim_jti(
        self, issuer: str, jti: str, expires_at: datetime, *, now: datetime | None = None
    ) -> bool: ...


class Fetcher(Protocol):
    """Fetches unsatisfied prefetch queries from the EHR's FHIR server (cds.fhir.fetch)."""

    def __call__(
        self,
        fhir_server: str,
        queries: Mapping[str, str],
        *,
        access_token: str | None,
        settings: Settings,
    ) -> Mapping[str, FetchOutcome]: ...


@dataclass
class Deps:
    settings: Settings
    store: Store | None = None
    fetcher: Fetcher | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.settings.evaluation_time or self.clock()


@dataclass(frozen=True)
class Presentation:
    """How the answer is shown: language, evaluation time asked for, the SMART app link."""

    translator: Translator = ENGLISH
    as_of: datetime | None = None  # a reference time the caller may set (tester requests)
    smart_launch_url: str | None = None


@dataclass(frozen=True)
class HookAnswer:
    cards: list[Card]
    evaluated_at: datetime
    patient_hash: str  # salted; for the request log line

    @property
    def rule_ids(self) -> list[str]:
        return [card.rule_id for card in self.cards if card.rule_id]


def run_hook(
    service: ServiceDef, request: HookRequest, deps: Deps, shown: Presentation = Presentation()
) -> HookAnswer:
    """Answer one validated hook call. Raises TooLarge or PrefetchUnsatisfiable (412)."""
    read = read_prefetch(request.prefetch)
    _check_entry_limit(
        read.entries, deps.settings, N_("prefetch holds {entries} entries; the limit is {limit}")
    )
    if deps.fetcher is not None and request.fhir_server and (read.unsatisfied or read.next_links):
        _fetch_missing(read, request, deps)
    elif read.next_links:
        read.pages_not_fetched()
    # A red flag read under any other key is answered (the info card names the missing keys).
    if all(key in read.unsatisfied for key in CLINICAL_KEYS) and not read.holds_clinical_resources:
        raise PrefetchUnsatisfiable(
            N_(
                "prefetch unsatisfied and not fetchable: {keys} (send them as prefetch, or a "
                "fhirServer this service may read)"
            ),
            keys=", ".join(read.unsatisfied),
        )
    return _answer(
        read.flattened,
        patient_id=request.patient_id,
        hook_instance=request.hook_instance,
        service=service,
        unsatisfied=tuple(read.unsatisfied),
        incomplete=tuple(read.incomplete.values()),
        deps=deps,
        shown=shown,
    )


def evaluate_bundle(
    service: ServiceDef, bundle: msgspec.Raw, deps: Deps, shown: Presentation = Presentation()
) -> HookAnswer:
    """Testers' path: a plain FHIR Bundle evaluated as if it were the service's prefetch.
    Raises InvalidFields naming `entry` when the Bundle's `entry` is not a list."""
    try:
        flattened = flatten(bundle, "Bundle")
    except BundleError as exc:  # its text is a message id (cds.fhir.bundle)
        raise InvalidFields([("entry", str(exc))]) from exc
    _check_entry_limit(
        flattened.entries, deps.settings, N_("Bundle has {entries} entries; the limit is {limit}")
    )
    return evaluate_flattened(service, flattened, deps, shown)


def evaluate_flattened(
    service: ServiceDef, flattened: Flattened, deps: Deps, shown: Presentation = Presentation()
) -> HookAnswer:
    """Resources already flattened (the red-flag check app's chart, fetched within the entry
    limit) evaluated as the service's prefetch."""
    return _answer(
        flattened,
        patient_id=None,
        hook_instance=None,
        service=service,
        unsatisfied=(),
        incomplete=(),
        deps=deps,
        shown=shown,
    )


def _answer(
    flattened: Flattened,
    *,
    patient_id: str | None,
    hook_instance: str | None,
    service: ServiceDef,
    unsatisfied: tuple[str, ...],
    incomplete: tuple[QueryCut, ...],
    deps: Deps,
    shown: Presentation,
) -> HookAnswer:
    settings = deps.settings
    now = shown.as_of or deps.now()
    extraction = reading.read(flattened, policy=settings.policy, now=now, patient_id=patient_id)
    if patient_id is None and extraction.patient.reference:
        patient_id = extraction.patient.reference.partition("/")[2] or None
    assessment = evaluate(extraction, policy=settings.policy)
    cards = build_cards(
        assessment,
        CardRequest(
            patient_id=patient_id,
            translator=shown.translator,
            smart_launch_url=shown.smart_launch_url,
            reference_time=shown.as_of,
            hook_instance=hook_instance,
            unsatisfied_prefetch=unsatisfied,
            incomplete_queries=incomplete,
        ),
    )
    metrics.count_cards(cards)
    patient_hash = ""
    if patient_id and deps.store is not None:
        patient_hash = deps.store.patient_hash(patient_id)
    _record(cards, service, hook_instance, patient_hash, deps)
    return HookAnswer(cards=cards, evaluated_at=assessment.evaluated_at, patient_hash=patient_hash)


def _check_entry_limit(entries: int, settings: Settings, message: str) -> None:
    """413 past CDS_MAX_ENTRIES (cds-hooks.md "Errors"), e.g. "prefetch holds 10001 entries"."""
    if entries > settings.max_entries:
        raise TooLarge(message, entries=entries, limit=settings.max_entries)


def _fetch_missing(read: PrefetchRead, request: HookRequest, deps: Deps) -> None:
    """Fetch unsatisfied keys (and the next pages of prefetched Bundles) from fhirServer; a
    query cut short is remembered in `read.incomplete`."""
    from .fhir.fetch import TemplateError, render_template

    assert deps.fetcher is not None
    assert request.fhir_server is not None
    settings = deps.settings
    templates = fetch_templates(
        settings.policy, settings.extra_observation_codes, settings.fhir_page_size
    )
    queries: dict[str, str] = {}
    for key in read.unsatisfied:
        try:
            queries[key] = render_template(templates[key], request.context)
        except (KeyError, TemplateError):
            # Cannot be asked for: the key stays unsatisfied and the 412 rule decides.
            log.info("prefetch key not renderable", extra={"prefetch_key": key})
    queries.update({key + NEXT_SUFFIX: url for key, url in read.next_links.items()})
    if not queries:
        return
    outcomes = deps.fetcher(
        request.fhir_server, queries, access_token=request.access_token, settings=deps.settings
    )
    for query_key, outcome in outcomes.items():
        metrics.count_prefetch_fetch(ok=outcome.ok)
        if outcome.truncated_by:
            metrics.count_prefetch_truncation(outcome.truncated_by)
        if not outcome.ok:
            log.info(
                "prefetch fetch failed",
                extra={"prefetch_key": query_key, "reason": outcome.reason},
            )
        read.add_fetched(query_key, outcome)
    _check_entry_limit(
        read.entries,
        deps.settings,
        N_("prefetch and fetched pages hold {entries} entries; the limit is {limit}"),
    )


def _record(
    cards: list[Card], service: ServiceDef, hook_instance: str | None, patient_hash: str, deps: Deps
) -> None:
    """Record the issued cards; a store that fails is logged, never raised (cards go out)."""
    if deps.store is None:
        return
    issued_at = datetime.now(UTC)
    issued = [
        IssuedCard(
            card_uuid=card.uuid,
            suggestion_uuids=[s.uuid for s in card.suggestions],
            rule_id=card.rule_id,
            rule_set_version=RULE_SET_VERSION,
            service_id=service.id,
            hook_instance=hook_instance,
            patient_hash=patient_hash,
            indicator=card.indicator,
            created_at=issued_at,
        )
        for card in cards
    ]
    try:
        deps.store.record_issued(issued)
    except StoreUnavailable as exc:
        log.warning(
            "cards not recorded: store unavailable",
            extra={"hook_instance": hook_instance, "cards": len(issued), "error": str(exc)},
        )


def record_feedback(items: Sequence[FeedbackItem], store: Store, base: str) -> FeedbackResult:
    """Store a validated feedback body in one transaction (cds-hooks.md "Feedback")."""
    offered = offered_reasons(base)
    return store.record_feedback([_feedback_entry(item, offered) for item in items])


@functools.lru_cache(maxsize=8)  # one base per deployment: built once, not per request
def offered_reasons(base: str) -> Mapping[tuple[str, str], str]:
    """(system, code) -> display of the override reasons this service's cards offer."""
    return {(c.system, c.code): c.display for c in override_reasons(base, ENGLISH)}


def _feedback_entry(item: FeedbackItem, offered: Mapping[tuple[str, str], str]) -> FeedbackEntry:
    """The store's record of one validated wire entry. A reason the cards offered is stored
    with the display they offered, so no caller can reword it in the alert-fatigue report."""
    has_reason = any((item.reason_system, item.reason_code, item.reason_display))
    display = offered.get((item.reason_system or "", item.reason_code or ""))
    return FeedbackEntry(
        card_uuid=item.card,
        outcome="accepted" if item.outcome == "accepted" else "overridden",
        outcome_timestamp=item.outcome_timestamp,
        accepted_suggestions=item.accepted_suggestions,
        override_reason=(
            OverrideReason(item.reason_system, item.reason_code, display or item.reason_display)
            if has_reason
            else None
        ),
        user_comment=item.user_comment,
    )
