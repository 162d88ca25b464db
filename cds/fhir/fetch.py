"""Fetching what prefetch lacks from the EHR's FHIR server (cds-hooks.md "Missing prefetch").

Owns: prefetch-template rendering, the origin allowlist (SSRF guard), and bounded GETs:
one total time budget across all keys and pages, a page cap, no redirects, size caps.
Never raises for a failed fetch: every key gets a `FetchOutcome` whose `reason` is for the log.
Nothing here logs a URL's path or query (they carry the patient id): origins and keys only.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from ..config import Settings

log = logging.getLogger("cds.fhir_client")

FHIR_JSON = "application/fhir+json"
ACCEPTED_CONTENT_TYPES = frozenset({"application/fhir+json", "application/json"})
MAX_WORKERS = 4
# A connect that takes longer than this is a dead host, whatever budget is left.
CONNECT_TIMEOUT_CAP_S = 2.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TemplateError(ValueError):
    """A prefetch template names a token the request cannot fill (the key cannot be fetched)."""


@dataclass(frozen=True)
class FetchOutcome:
    """The result of one prefetch query.

    `resources` is None on failure (then `reason` says why, for the log, without PHI); on success
    it holds the Bundle entries' `resource` values of every page read, or the single resource.
    `truncated` is True when the page cap stopped us before the last page.
    """

    resources: list[Any] | None
    reason: str | None = None
    pages: int = 0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.resources is not None


# --- templates ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


def render_template(template: str, context: Mapping[str, Any], user: str | None = None) -> str:
    """Fill a prefetch template's tokens (CDS Hooks 2.0 "Prefetch tokens"), URL-encoding values.

    `{{context.<field>}}` takes a root primitive field of `context`; `{{userPractitionerId}}`,
    `{{userPractitionerRoleId}}`, `{{userPatientId}}`, `{{userRelatedPersonId}}` take the id
    from `user` (default `context["userId"]`, e.g. "Practitioner/abc" -> "abc"). Every value is
    percent-encoded with no safe characters, so an id cannot add path segments or parameters.
    Raises TemplateError naming the token when a value is missing or not a primitive.
    """
    user_ref = user if user is not None else context.get("userId")

    def value_of(match: re.Match[str]) -> str:
        token = match.group(1)
        value: Any
        if token.startswith("context."):
            value = context.get(token.removeprefix("context."))
        elif token in _USER_TOKENS:
            value = _user_id(user_ref, _USER_TOKENS[token])
        else:
            raise TemplateError(f"unknown prefetch token {{{{{token}}}}}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float) or value == "":
            raise TemplateError(f"prefetch token {{{{{token}}}}} has no primitive value")
        return quote(str(value), safe="")

    return _TOKEN.sub(value_of, template)


def _user_id(user_ref: object, resource_type: str) -> str | None:
    if not isinstance(user_ref, str):
        return None
    kind, _, ident = user_ref.partition("/")
    return ident if kind == resource_type and ident and "/" not in ident else None


# --- origins -----------------------------------------------------------------------------------


def normalise_origin(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL, lower-cased, default port made explicit.

    None for anything else, including URLs with userinfo ("https://a@b/"), which a parser and
    a human can read as different hosts.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


@functools.lru_cache(maxsize=8)
def allowed_origins(allowlist: tuple[str, ...]) -> frozenset[str]:
    """The normalised origins of CDS_FHIR_SERVER_ALLOWLIST (paths in entries are ignored).

    Cached per allowlist, so an invalid entry is warned about once, not on every request.
    """
    origins = set()
    for entry in allowlist:
        origin = normalise_origin(entry)
        if origin is None:
            log.warning("ignoring invalid CDS_FHIR_SERVER_ALLOWLIST entry %r", entry)
        else:
            origins.add(origin)
    return frozenset(origins)


def is_allowed_fhir_server(fhir_server: str, settings: Settings) -> bool:
    origin = normalise_origin(fhir_server)
    return origin is not None and origin in allowed_origins(tuple(settings.fhir_server_allowlist))


# --- fetching ----------------------------------------------------------------------------------


def fetch_queries(
    fhir_server: str,
    queries: Mapping[str, str],
    *,
    access_token: str | None,
    settings: Settings,
) -> dict[str, FetchOutcome]:
    """GET each query from `fhir_server`; one outcome per key, never an exception.

    A query is relative to `fhir_server` ("Observation?patient=1") or an absolute URL on the same
    origin (a prefetched Bundle's `next` link). Contract:
    - no connection at all unless `fhir_server`'s origin is on settings.fhir_server_allowlist;
    - `Authorization: Bearer <access_token>` only when a token is given; `Accept: fhir+json`;
    - every request, page and key shares one budget of settings.fhir_timeout_s seconds; keys run
      concurrently (at most MAX_WORKERS threads) and every thread has returned when this does;
    - Bundle `next` links followed up to settings.fhir_page_cap pages, only on the same origin;
    - redirects, non-2xx, non-JSON, other content types, OperationOutcomes and non-resources
      are failures; each page is capped at settings.max_body_bytes.
    Known bound: DNS resolution is done by the system resolver, outside the budget.
    """
    if not queries:
        return {}
    origin = normalise_origin(fhir_server)
    if origin is None or origin not in allowed_origins(tuple(settings.fhir_server_allowlist)):
        log.warning(
            "cannot fetch prefetch: fhirServer origin %s is not on CDS_FHIR_SERVER_ALLOWLIST",
            origin or "(invalid URL)",
            extra={"prefetch_keys": sorted(queries)},
        )
        reason = "fhirServer not on CDS_FHIR_SERVER_ALLOWLIST"
        return {key: FetchOutcome(None, reason) for key in queries}

    deadline = time.monotonic() + settings.fhir_timeout_s
    headers = {"Accept": FHIR_JSON}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    base = fhir_server.rstrip("/") + "/"
    # One client per call: no cookies or connections carried between EHR requests.
    with httpx.Client(headers=headers, follow_redirects=False) as client:
        fetcher = _Fetcher(client, origin, deadline, settings)
        items = list(queries.items())
        if len(items) == 1:
            key, query = items[0]
            return {key: fetcher.fetch(base, query)}
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items))) as pool:
            futures = {key: pool.submit(fetcher.fetch, base, query) for key, query in items}
            # Each worker stops itself at the deadline, so leaving the pool joins promptly.
            return {key: future.result() for key, future in futures.items()}


class _Failure(Exception):
    """One query failed; the message is the log reason (no PHI)."""


@dataclass
class _Fetcher:
    client: httpx.Client
    origin: str
    deadline: float
    settings: Settings

    def fetch(self, base: str, query: str) -> FetchOutcome:
        started = time.monotonic()
        resources: list[Any] = []
        pages = 0
        try:
            url: str | None = self._first_url(base, query)
            while url is not None:
                if pages >= self.settings.fhir_page_cap:
                    log.warning(
                        "prefetch page cap reached; later pages not read",
                        extra={"origin": self.origin, "pages": pages},
                    )
                    return FetchOutcome(resources, pages=pages, truncated=True)
                page = self._get_json(url)
                pages += 1
                page_resources, next_url = _read_page(page)
                resources.extend(page_resources)
                if len(resources) > self.settings.max_entries:
                    raise _Failure(f"more than {self.settings.max_entries} entries")
                url = self._next_url(url, next_url) if next_url else None
        except _Failure as failure:
            log.info(
                "prefetch query failed: %s",
                failure,
                extra={"origin": self.origin, "pages": pages},
            )
            return FetchOutcome(None, str(failure), pages=pages)
        log.debug(
            "prefetch query fetched",
            extra={"origin": self.origin, "pages": pages, "ms": _ms_since(started)},
        )
        return FetchOutcome(resources, pages=pages)

    def _first_url(self, base: str, query: str) -> str:
        parts = urlsplit(query)
        # Absolute ("https://...") or scheme-relative ("//host/..."): checked as given. A
        # relative query may still hold "://" in its parameters (code=http://loinc.org|...).
        url = query if parts.scheme or parts.netloc else urljoin(base, query.lstrip("/"))
        if normalise_origin(url) != self.origin:
            raise _Failure("query URL is not on the fhirServer origin")
        return url

    def _next_url(self, current: str, next_url: str) -> str:
        url = urljoin(current, next_url)
        if normalise_origin(url) != self.origin:
            raise _Failure("Bundle next link leaves the fhirServer origin")
        return url

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(f"time budget of {self.settings.fhir_timeout_s:g} s exhausted")
        return remaining

    def _get_json(self, url: str) -> Any:
        remaining = self._remaining()
        timeout = httpx.Timeout(remaining, connect=min(remaining, CONNECT_TIMEOUT_CAP_S))
        try:
            with self.client.stream("GET", url, timeout=timeout) as response:
                status = response.status_code
                if 300 <= status < 400:
                    raise _Failure(f"HTTP {status} redirect from {self.origin} (not followed)")
                if not 200 <= status < 300:
                    raise _Failure(f"HTTP {status} from {self.origin}")
                content_type = response.headers.get("content-type", "")
                media_type = content_type.split(";")[0].strip().lower()
                if media_type not in ACCEPTED_CONTENT_TYPES:
                    raise _Failure(f"content type {media_type or '(none)'!r} is not FHIR JSON")
                body = self._read_body(response)
        except httpx.InvalidURL as exc:  # not an HTTPError: e.g. control characters in a link
            raise _Failure("invalid URL") from exc
        except httpx.TimeoutException as exc:
            raise _Failure(
                f"time budget of {self.settings.fhir_timeout_s:g} s exhausted "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            if time.monotonic() >= self.deadline:
                raise _Failure(
                    f"time budget of {self.settings.fhir_timeout_s:g} s exhausted"
                ) from exc
            raise _Failure(f"{type(exc).__name__} talking to {self.origin}") from exc
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise _Failure("body is not JSON") from exc

    def _read_body(self, response: httpx.Response) -> bytes:
        """Read the body within the budget and the size cap.

        httpx's read timeout bounds each socket read, not the whole body, so a server that
        trickles bytes could outlast the budget: a timer shuts the socket down at the deadline,
        which wakes the blocked read at once (close() alone would not on Linux).
        """
        sock = _socket_of(response)
        watchdog = threading.Timer(self._remaining(), _shutdown, args=(sock,))
        watchdog.daemon = True
        watchdog.start()
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.settings.max_body_bytes:
                    raise _Failure(f"page larger than {self.settings.max_body_bytes} bytes")
                chunks.append(chunk)
                self._remaining()
            return b"".join(chunks)
        finally:
            watchdog.cancel()


def _socket_of(response: httpx.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    get_extra_info = getattr(stream, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    # OSError: already closed by the reader, so there is nothing left to interrupt.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _read_page(page: Any) -> tuple[list[Any], str | None]:
    """(resources, next link) of one response body; raises _Failure for non-resources."""
    if not isinstance(page, Mapping) or not isinstance(page.get("resourceType"), str):
        raise _Failure("body is not a FHIR resource")
    resource_type = page["resourceType"]
    if resource_type == "OperationOutcome":
        raise _Failure("server answered with an OperationOutcome")
    if resource_type != "Bundle":
        return [page], None
    entries = page.get("entry", [])
    if not isinstance(entries, list):
        raise _Failure("Bundle.entry is not a list")
    resources = [
        entry["resource"] for entry in entries if isinstance(entry, Mapping) and "resource" in entry
    ]
    next_url = None
    links = page.get("link", [])
    if isinstance(links, list):
        for link in links:
            if isinstance(link, Mapping) and link.get("relation") == "next":
                candidate = link.get("url")
                if isinstance(candidate, str) and candidate:
                    next_url = candidate
                    break
    return resources, next_url


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
