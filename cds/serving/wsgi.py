"""The WSGI app as `calf-cds serve` runs it: bodies read whole before the app runs, broken HTTP
framing answered 400, and (threaded workers) hook calls taking turns."""

from __future__ import annotations

import functools
import io
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from ..core.i18n import N_
from ..errors import BadRequest

T = TypeVar("T")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ServedApp:
    """The WSGI app as `calf-cds serve` runs it.

    For a request with a body: the body is read whole (up to the size limit + 1 byte) before
    the app runs (under a threaded worker, a client that trickles its body holds a connection
    thread, never the worker's turn); and a body whose HTTP framing is broken (a bad chunk size
    or extension, a missing chunk terminator, fewer bytes than Content-Length) reaches the app
    as a stream that raises BadRequest: a 400 OperationOutcome through the app's own error
    handling, not a 500.

    With `serialise` (threaded workers, `--threads` > 1), those requests then run one at a
    time per process, first come first served, as sync workers run them: interleaved on
    threads under the GIL, CPU-bound requests all finish later. The turn is given up while a
    hook call waits on the EHR's FHIR server (`fetcher`, wrapped by `wait_outside_turn`), so
    other calls run meanwhile. Requests without a body (health, discovery, metrics, console)
    are cheap and never wait behind a hook call.
    """

    def __init__(self, app: Any, max_body_bytes: int, *, serialise: bool) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.turn = Turn() if serialise else None
        self._holder = threading.local()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") not in _BODY_METHODS:
            return self.app(environ, start_response)
        _buffer_body(environ, self.max_body_bytes)
        if self.turn is None:
            return self.app(environ, start_response)
        with self.turn:
            self._holder.holds = True
            try:
                return self.app(environ, start_response)
            finally:
                self._holder.holds = False

    def wait_outside_turn(self, wait: Callable[..., T]) -> Callable[..., T]:
        """`wait`, run with this thread's turn given up (it is taken back before returning)."""

        def call(*args: Any, **kwargs: Any) -> T:
            if self.turn is None or not getattr(self._holder, "holds", False):
                return wait(*args, **kwargs)
            self._holder.holds = False
            self.turn.release()
            try:
                return wait(*args, **kwargs)
            finally:
                self.turn.acquire()
                self._holder.holds = True

        return call


class Turn:
    """A lock handed to its waiters in arrival order.

    threading.Lock lets a thread that arrives as the lock is released take it before the
    threads already waiting, so under load some requests wait far longer than others; a sync
    worker's kernel accept queue is first in, first out, and so is this.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            handed = threading.Lock()
            handed.acquire()
            self._waiting.append(handed)
        handed.acquire()  # released by `release`, which hands the turn over: still held

    def release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._held = False

    def __enter__(self) -> Turn:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _buffer_body(environ: dict[str, Any], limit: int) -> None:
    """Replace `wsgi.input` with the body read now (at most limit + 1 bytes: the app decides
    413 from that), or with a stream raising BadRequest when the body's framing is broken."""
    declared = _content_length(environ)
    if declared is not None and declared > limit:
        return  # refused from the header alone; never read
    if declared is None and not environ.get("wsgi.input_terminated"):
        return  # no body (WSGI: no Content-Length and no end-of-stream guarantee)
    wanted = limit + 1 if declared is None else declared
    try:
        body = environ["wsgi.input"].read(wanted)
    except framing_errors() as exc:
        environ["wsgi.input"] = _framing_error(exc)
        return
    if declared is not None and len(body) < declared:
        environ["wsgi.input"] = _Unreadable(
            N_("the request body ended after {got} of its {declared} bytes (Content-Length)"),
            got=len(body),
            declared=declared,
        )
        return
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


@functools.cache
def framing_errors() -> tuple[type[BaseException], ...]:
    """What reading a request body raises when its HTTP framing is broken.

    gunicorn: its `ParseException`s (InvalidChunkSize, InvalidChunkExtension,
    ChunkMissingTerminator, and InvalidHeader/LimitRequestHeaders for trailers) and NoMoreData
    (an IOError). werkzeug's development server: OSError ("Invalid chunk header", "Negative
    chunk length not allowed", "Missing chunk terminating newline"). A socket error while
    reading the body is the same thing to the client: its request did not arrive.
    """
    from gunicorn.http.errors import ParseException

    return (ParseException, OSError)


# Fixed texts (message ids): the servers' own messages can quote the caller's bytes.
_FRAMING_TEXTS = {
    "InvalidChunkSize": N_(
        "the request body's HTTP framing is invalid: a chunk size is not a hexadecimal number"
    ),
    "InvalidChunkExtension": N_(
        "the request body's HTTP framing is invalid: a chunk extension is malformed"
    ),
    "ChunkMissingTerminator": N_(
        "the request body's HTTP framing is invalid: a chunk is not followed by CRLF"
    ),
    "InvalidHeader": N_(
        "the request body's HTTP framing is invalid: the trailer section is malformed"
    ),
    "LimitRequestHeaders": N_(
        "the request body's HTTP framing is invalid: the trailer section is too large"
    ),
    "NoMoreData": N_(
        "the request body's HTTP framing is invalid: the connection closed before the body ended"
    ),
}


def _framing_error(exc: BaseException) -> _Unreadable:
    text = _FRAMING_TEXTS.get(type(exc).__name__)
    if text is not None:
        return _Unreadable(text)
    if isinstance(exc, OSError) and exc.errno is None and exc.args:
        # werkzeug's fixed messages, e.g. "invalid chunk header": kept in English after the lead
        return _Unreadable(
            N_("the request body's HTTP framing is invalid: {detail}"),
            detail=str(exc.args[0]).lower(),
        )
    return _Unreadable(N_("the request body's HTTP framing is invalid: it could not be read"))


class _Unreadable(io.RawIOBase):
    """A request body that could not be read: reading it raises BadRequest (400), a message id
    with its values, answered in the request's language."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__()
        self.message = message
        self.values = values

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise BadRequest(self.message, headers=None, **self.values)
