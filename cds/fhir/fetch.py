"""Fetching what prefetch lacks from the EHR's FHIR server (cds-hooks.md "Missing prefetch").

Owns: prefetch-template rendering, the origin allowlist (SSRF guard), and bounded GETs:
one wall-clock deadline across all keys and pages (DNS, connect, status line, headers, body),
a page cap, no redirects, size caps. Never raises for a failed fetch: every key gets a
`FetchOutcome`; `reason` is for the log, and a cut answer says why (`truncated_by`) and how many
pages were read, which the info card puts in words. Nothing here logs a URL's path or query
(they carry the patient id): origins and keys only.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpcore
import httpx
import msgspec

from ..config import Settings
from ..core.model import CUT_ENTRIES, CUT_ERROR, CUT_PAGE_CAP, CUT_SIZE, CUT_TIME
from ..jsonio import without_lone_surrogates
from .bundle import BundleError, Flattened, NotAResource, NotJson, flatten
from .prefetch import NEXT_SUFFIX

log = logging.getLogger("cds.fhir.fetch")

FHIR_JSON = "application/fhir+json"
ACCEPTED_CONTENT_TYPES = frozenset({"application/fhir+json", "application/json"})
MAX_WORKERS = 4
# A connect that takes longer than this is a dead host, whatever budget is left.
CONNECT_TIMEOUT_CAP_S = 2.0
# A timeout this close to the deadline is the deadline (socket timeouts round to milliseconds).
DEADLINE_SLACK_S = 0.01
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TemplateError(ValueError):
    """A prefetch template names a token the request cannot fill (the key cannot be fetched)."""


# Why a query's answer was cut short: the `reason` label of the truncation metric.
PAGE_CAP, BUDGET, SIZE, ENTRIES, ERROR = CUT_PAGE_CAP, CUT_TIME, CUT_SIZE, CUT_ENTRIES, CUT_ERROR


@dataclass(frozen=True)
class FetchOutcome:
    """The result of one prefetch query.

    `flattened` is None on failure (then `reason` says why, for the log, without PHI); on
    success it holds the resources of every page read, flattened as a prefetched value is
    (`bundle.flatten`: cited by id, else fullUrl, else "<key> entry <n>"). `truncated` is True
    when pages were read but not all of them (page cap, time budget, a page over the size cap,
    too many entries, a later page that failed): `truncated_by` is one of PAGE_CAP, BUDGET,
    SIZE, ENTRIES, ERROR.
    """

    flattened: Flattened | None
    reason: str | None = None
    pages: int = 0
    truncated: bool = False
    truncated_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.flattened is not None


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
    - every request, page and key shares one wall-clock deadline, settings.fhir_timeout_s from
      now: name resolution, connect, TLS, status line, headers and body each wait at most
      until it (`_DeadlineBackend`); keys run concurrently (at most MAX_WORKERS threads) and
      every thread has returned when this does, at the deadline at the latest;
    - Bundle `next` links followed up to settings.fhir_page_cap pages, only on the same origin;
      a query cut short after its first page keeps what it read (`FetchOutcome.truncated`);
    - redirects, non-2xx, non-JSON, other content types, OperationOutcomes and non-resources
      are failures; each page is capped at settings.max_body_bytes.
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
    if access_token and settings.auth_mode == "required" and not origin.startswith("https://"):
        # cds-hooks.md "Request": https in production. The EHR's token is never sent in clear
        # text; the call is still answered from its prefetch, the missing keys named.
        log.warning(
            "cannot fetch prefetch: fhirServer origin %s is not https and the request carries "
            "an access token (CDS_AUTH_MODE=required)",
            origin,
            extra={"prefetch_keys": sorted(queries)},
        )
        reason = "fhirServer not https while the request carries an access token"
        return {key: FetchOutcome(None, reason) for key in queries}

    deadline = time.monotonic() + settings.fhir_timeout_s
    headers = {"Accept": FHIR_JSON}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    base = fhir_server.rstrip("/") + "/"
    # One client per call: no cookies or connections carried between EHR requests. An explicit
    # transport also keeps environment proxies out: a proxy hop would sit outside the deadline.
    transport = _DeadlineTransport(deadline)
    with httpx.Client(headers=headers, follow_redirects=False, transport=transport) as client:
        fetcher = _Fetcher(client, origin, deadline, settings)
        items = list(queries.items())
        if len(items) == 1:
            key, query = items[0]
            return {key: fetcher.fetch(base, query, _where(key))}
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items))) as pool:
            futures = {
                key: pool.submit(fetcher.fetch, base, query, _where(key)) for key, query in items
            }
            # No read outlives the deadline, so leaving the pool joins promptly.
            return {key: future.result() for key, future in futures.items()}


# --- the deadline ------------------------------------------------------------------------------
#
# httpx's timeouts bound each socket operation and restart with every byte, so a server that
# drips its status line or headers one byte a second never trips them. Two ways to a real
# deadline were weighed: running the fetch in a thread abandoned at the deadline, or bounding
# every socket operation by the time left. Abandoning cannot stop the thread: closing a socket
# does not wake a read blocked on it, so the thread and its connection would live on for as
# long as the server drips. Bounding each operation ends every read, write, connect and TLS
# handshake by the deadline in the thread that started it, so nothing outlives the call and
# the connection is closed by httpx's own error path. httpcore (httpx's transport layer) takes
# a network backend for exactly this; name resolution, which has no timeout of its own in the
# socket API, is waited for in a helper thread for at most the time left.


@functools.lru_cache(maxsize=1)
def _ssl_context() -> Any:
    """httpx's default verifying context, built once: loading the CA bundle takes milliseconds."""
    return httpx.create_ssl_context()


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's HTTP transport over a connection pool whose network backend keeps `deadline`."""

    def __init__(self, deadline: float) -> None:
        super().__init__(verify=_ssl_context())
        # httpx has no public setting for the network backend, and its transport is a thin
        # wrapper (request/response mapping, exception mapping) around this pool: only the pool
        # is replaced, built as httpx builds it, with the backend below.
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            network_backend=_DeadlineBackend(deadline),
        )


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every operation's timeout cut to the time left."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._sockets = httpcore.SyncBackend()

    def time_left(self, timeout: float | None, expired: type[Exception]) -> float:
        """min(timeout, time to the deadline); raises `expired` once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise expired("the fetch deadline has passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._resolve(host, port)
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                stream = self._sockets.connect_tcp(
                    address,
                    port,
                    timeout=self.time_left(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:  # refused: the next address may answer
                failure = exc
                continue
            return _DeadlineStream(stream, self)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - fhirServer is always a TCP URL
        raise httpcore.ConnectError("unix sockets are not used for fetching")

    def _resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, waiting for the resolver at most until the deadline.

        A lookup still running at the deadline is left to finish in its daemon thread (it holds
        no socket; the system resolver's own timeouts end it).
        """
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [host]
        found: list[str] = []
        errors: list[OSError] = []
        done = threading.Event()

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                found.extend(str(info[4][0]) for info in infos)
            except OSError as exc:
                errors.append(exc)
            finally:
                done.set()

        threading.Thread(target=lookup, name="calf-cds-dns", daemon=True).start()
        if not done.wait(self.time_left(None, httpcore.ConnectTimeout)):
            raise httpcore.ConnectTimeout("name resolution outlasted the fetch deadline")
        if errors or not found:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        return list(dict.fromkeys(found))


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads, writes and TLS handshake each end by the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, backend: _DeadlineBackend) -> None:
        self._stream = stream
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._backend.time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._backend.time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(
            ssl_context,
            server_hostname,
            self._backend.time_left(timeout, httpcore.ConnectTimeout),
        )
        return _DeadlineStream(tls, self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


# --- one query ---------------------------------------------------------------------------------


class _Failure(Exception):
    """One page failed; the message is the log reason (no PHI), `kind` the truncation label."""

    def __init__(self, message: str, kind: str = ERROR) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Fetcher:
    client: httpx.Client
    origin: str
    deadline: float
    settings: Settings

    def fetch(self, base: str, query: str, where: str) -> FetchOutcome:
        """Every page of `query`; the resources are cited under `where` (the prefetch key)."""
        started = time.monotonic()
        read = Flattened()
        pages = 0
        cap = self.settings.fhir_page_cap
        try:
            url: str | None = self._first_url(base, query)
            while url is not None:
                if pages >= cap:
                    return self._cut(read, pages, PAGE_CAP, f"the page cap ({cap}) was reached")
                page = _read_page(self._get(url), where, first_entry=read.entries)
                if read.entries + page.entries > self.settings.max_entries:
                    raise _Failure(f"more than {self.settings.max_entries} entries", ENTRIES)
                read.extend(page)
                pages += 1
                next_url = page.next_links.get(where)
                url = self._next_url(url, next_url) if next_url else None
        except _Failure as failure:
            if pages:
                return self._cut(read, pages, failure.kind, _cut_note(failure, pages + 1))
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
        return FetchOutcome(read, pages=pages)

    def _cut(self, read: Flattened, pages: int, kind: str, why: str) -> FetchOutcome:
        log.warning(
            "prefetch query cut short; later pages not read",
            extra={"origin": self.origin, "pages": pages, "truncated_by": kind},
        )
        return FetchOutcome(read, reason=why, pages=pages, truncated=True, truncated_by=kind)

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

    def _budget_exhausted(self, detail: str = "") -> _Failure:
        return _Failure(
            f"time budget of {self.settings.fhir_timeout_s:g} s exhausted{detail}", BUDGET
        )

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._budget_exhausted()
        return remaining

    def _get(self, url: str) -> bytes:
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
                return self._read_body(response)
        except httpx.InvalidURL as exc:  # not an HTTPError: e.g. control characters in a link
            raise _Failure("invalid URL") from exc
        except httpx.HTTPError as exc:
            # The backend ends every operation at the deadline; a timeout before it is the
            # connect cap (a dead host), reported as such.
            if time.monotonic() >= self.deadline - DEADLINE_SLACK_S:
                raise self._budget_exhausted(f" ({type(exc).__name__})") from exc
            raise _Failure(f"{type(exc).__name__} talking to {self.origin}") from exc

    def _read_body(self, response: httpx.Response) -> bytes:
        """The body, within the deadline (each read is bounded by it) and the size cap."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                raise _Failure(f"page larger than {self.settings.max_body_bytes} bytes", SIZE)
            chunks.append(chunk)
        return b"".join(chunks)


def _cut_note(failure: _Failure, page: int) -> str:
    """Why page `page` was not read, for the log."""
    if failure.kind == BUDGET:
        return f"the time budget ran out before page {page}"
    if failure.kind == SIZE:
        return f"page {page} was over the size limit"
    if failure.kind == ENTRIES:
        return f"page {page} would have passed the limit on entries"
    return f"page {page} could not be read ({failure})"


def _where(key: str) -> str:
    """What a query's entries without an id or fullUrl are cited under: the prefetch key; a
    prefetched Bundle's later pages ("observations#next") apart from its first page, whose
    entries are numbered from 0 too."""
    first_page_key = key.removesuffix(NEXT_SUFFIX)
    return first_page_key if first_page_key == key else f"{first_page_key} next pages"


def _read_page(body: bytes, where: str, *, first_entry: int) -> Flattened:
    """One response body flattened as a prefetched value is; raises _Failure for a body that
    is not a FHIR resource, or is an OperationOutcome."""
    try:
        # An unpaired surrogate escape reads as U+FFFD, as in a request body (cds.jsonio).
        raw = msgspec.Raw(without_lone_surrogates(body))
        return flatten(raw, where, refuse={"OperationOutcome"}, first_entry=first_entry)
    except NotJson as exc:
        raise _Failure("body is not JSON") from exc
    except NotAResource as exc:
        raise _Failure(f"body is not a usable FHIR resource ({exc})") from exc
    except BundleError as exc:
        raise _Failure("Bundle.entry is not a list") from exc
    except RecursionError as exc:
        raise _Failure("body is nested too deeply") from exc


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
