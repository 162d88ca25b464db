"""The application layer: one hook call from validated request to cards (no Flask here).

prefetch -> (fetch what is missing) -> fhir_input.extract -> engine.evaluate -> cards -> store.
Clinical answers never wait on the store: a store failure is logged, the cards still go out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from . import cards as card_builder
from . import engine, fhir_input, metrics
from .config import RULE_SET_VERSION, Settings
from .errors import PrefetchUnsatisfiable, StoreUnavailable, TooLarge
from .prefetch import CLINICAL_KEYS, NEXT_SUFFIX, PrefetchRead, fetch_templates, read_prefetch
from .registry import ServiceDef
from .schemas import HookRequest

if TYPE_CHECKING:
    from .fhir_client import FetchOutcome

log = logging.getLogger("cds.service")


class Fetcher(Protocol):
    """Fetches unsatisfied prefetch queries from the EHR's FHIR server (cds.fhir_client)."""

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
    store: Any = None  # cds.store.Store; Any keeps SQLAlchemy out of this module's imports
    fetcher: Fetcher | None = None
    hash_patient: Callable[[str], str] = lambda patient_id: ""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.settings.evaluation_time or self.clock()


@dataclass(frozen=True)
class HookAnswer:
    cards: list[dict[str, Any]]
    rule_ids: list[str]  # for the request log line
    patient_hash: str  # salted; for the request log line

    def body(self) -> dict[str, Any]:
        return {"cards": self.cards}


def run_hook(service: ServiceDef, request: HookRequest, deps: Deps) -> HookAnswer:
    """Answer one validated hook call. Raises TooLarge or PrefetchUnsatisfiable (412)."""
    settings = deps.settings
    read = read_prefetch(request.prefetch)
    _check_entry_limit(read.entries, settings, "prefetch holds")
    if deps.fetcher is not None and request.fhir_server and (read.unsatisfied or read.next_links):
        _fetch_missing(read, request, deps)
    elif read.next_links:
        read.pages_not_fetched("no fhirServer this service may read")
    if all(key in read.unsatisfied for key in CLINICAL_KEYS):
        raise PrefetchUnsatisfiable(
            "prefetch unsatisfied and not fetchable: "
            + ", ".join(read.unsatisfied)
            + " (send them as prefetch, or a fhirServer this service may read)"
        )
    return _answer(
        service,
        read.resources,
        patient_id=request.patient_id,
        hook_instance=request.hook_instance,
        unsatisfied=read.unsatisfied,
        incomplete=read.incomplete,
        deps=deps,
    )


def evaluate_bundle(service: ServiceDef, bundle: Mapping[str, Any], deps: Deps) -> HookAnswer:
    """Testers' path: a plain FHIR Bundle evaluated as if it were the service's prefetch."""
    resources = fhir_input.bundle_resources(bundle)
    _check_entry_limit(len(resources), deps.settings, "Bundle has")
    patient_ids = [
        resource["id"]
        for resource in resources
        if isinstance(resource, Mapping)
        and resource.get("resourceType") == "Patient"
        and isinstance(resource.get("id"), str)
    ]
    patient_id = patient_ids[0] if len(set(patient_ids)) == 1 else None
    return _answer(
        service,
        resources,
        patient_id=patient_id,
        hook_instance=None,
        unsatisfied=[],
        deps=deps,
    )


def _answer(
    service: ServiceDef,
    resources: list[Any],
    *,
    patient_id: str | None,
    hook_instance: str | None,
    unsatisfied: list[str],
    deps: Deps,
    incomplete: Mapping[str, str] | None = None,
) -> HookAnswer:
    settings = deps.settings
    extraction = fhir_input.extract(resources, now=deps.now(), settings=settings)
    assessment = engine.evaluate(extraction)
    cards = card_builder.build_cards(
        assessment,
        settings=settings,
        patient_id=patient_id,
        unsatisfied_prefetch=tuple(unsatisfied),
        incomplete_prefetch=incomplete,
    )
    metrics.count_cards(cards)
    patient_hash = deps.hash_patient(patient_id) if patient_id else ""
    _record(cards, service, hook_instance, patient_hash, deps)
    return HookAnswer(
        cards=cards,
        rule_ids=[rule_id for rule_id in map(card_rule_id, cards) if rule_id],
        patient_hash=patient_hash,
    )


def card_rule_id(card: Mapping[str, Any]) -> str | None:
    topic = card.get("source", {}).get("topic") or {}
    code = topic.get("code")
    return code if isinstance(code, str) else None


def _check_entry_limit(entries: int, settings: Settings, where: str) -> None:
    """413 past CDS_MAX_ENTRIES (cds-hooks.md "Errors"), e.g. "prefetch holds 10001 entries"."""
    if entries > settings.max_entries:
        raise TooLarge(f"{where} {entries} entries; the limit is {settings.max_entries}")


def _fetch_missing(read: PrefetchRead, request: HookRequest, deps: Deps) -> None:
    """Fetch unsatisfied keys (and the next pages of prefetched Bundles) from fhirServer."""
    from .fhir_client import TemplateError, render_template

    assert deps.fetcher is not None
    assert request.fhir_server is not None
    templates = fetch_templates(deps.settings)
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
        request.fhir_server,
        queries,
        access_token=request.access_token,
        settings=deps.settings,
    )
    for query_key, outcome in outcomes.items():
        metrics.count_prefetch_fetch(ok=outcome.resources is not None)
        if outcome.truncated_by:
            metrics.count_prefetch_truncation(outcome.truncated_by)
        if outcome.resources is None:
            log.info(
                "prefetch fetch failed",
                extra={"prefetch_key": query_key, "reason": outcome.reason},
            )
        read.add_fetched(query_key, outcome)
    _check_entry_limit(read.entries, deps.settings, "prefetch and fetched pages hold")


def _record(
    cards: list[dict[str, Any]],
    service: ServiceDef,
    hook_instance: str | None,
    patient_hash: str,
    deps: Deps,
) -> None:
    """Record the issued cards; a store that is down is logged, never raised (cards go out)."""
    if deps.store is None:
        return
    from .store import IssuedCard

    issued_at = datetime.now(UTC)
    issued = [
        IssuedCard(
            card_uuid=card["uuid"],
            suggestion_uuids=[s["uuid"] for s in card.get("suggestions", []) if "uuid" in s],
            rule_id=card_rule_id(card),
            rule_set_version=RULE_SET_VERSION,
            service_id=service.id,
            hook_instance=hook_instance,
            patient_hash=patient_hash,
            indicator=card["indicator"],
            created_at=issued_at,
        )
        for card in cards
        if "uuid" in card
    ]
    try:
        deps.store.record_issued(issued)
    except StoreUnavailable as exc:
        log.warning(
            "cards not recorded: store unavailable",
            extra={"hook_instance": hook_instance, "cards": len(issued), "error": str(exc)},
        )
