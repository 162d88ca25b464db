"""The gunicorn workers `calf-cds serve` runs: sync, with each request read in full first;
or, with `--threads` > 1, gthread with its lingering closes moved off its dispatching thread.

A gunicorn sync worker reads a request with blocking calls, so a client that connects and sends
nothing, sends its request a byte at a time, or never closes after its answer holds the whole
worker; two such sockets stopped both workers and `/healthz` with them. Threads (gthread) avoid
that, but the work per request is CPU-bound Python: the threads contend for the GIL, and
connections queue per worker instead of in the kernel's one accept queue (bench/README.md has
the cost). This worker keeps the sync worker's one thread and its one-request-at-a-time work,
and takes a request to work on only once all of it has arrived:

- connections are accepted one at a time, only while the worker is not working on a request,
  so a new connection goes to whichever worker is free, as with sync workers;
- their bytes are read without blocking, from a selector, until the head and the whole body
  (Content-Length, or chunked up to its last chunk) are in; then the request is parsed and
  answered by gunicorn's own code, reading from those bytes;
- a connection still incomplete after ARRIVAL_TIMEOUT_S is closed; so is one when a new one
  would make more than MAX_ARRIVING (one still without its whole head first, then the one
  quiet the longest); and when the requests still
  arriving hold more than CDS_MAX_BUFFERED_BYTES, the largest of them is closed, until the
  rest fit (a flood of large bodies: the proxy in front is for that; a request alone is never
  closed for its size, which the body limit bounds);
- after its answer, a connection with nothing unread is closed at once; one whose client still
  sends lingers (drained) in the same selector for at most LINGER_S, never in the worker's way.

What cannot be judged here (a malformed head or chunk, a body over the size limit, headers over
gunicorn's limits, `Expect` beyond 100-continue) is handed to gunicorn as soon as it is seen:
gunicorn and the app refuse it as they would have.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gunicorn import http, util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

ARRIVAL_TIMEOUT_S = 30.0
LINGER_S = 2.0
MAX_ARRIVING = 256
# Bytes of request head after which it is handed to gunicorn (which refuses heads over its
# limits: 8 KiB fields, 100 of them).
HEAD_LIMIT = 1024 * 1024
READ_SIZE = 256 * 1024

# Header lines end in CRLF; with re.M, `$` matches before the LF, so each pattern takes the CR.
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.I | re.M)
_TRANSFER_ENCODING = re.compile(rb"^transfer-encoding[ \t]*:(.*?)\r?$", re.I | re.M)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$", re.I | re.M)


@dataclass
class Arriving:
    """A connection whose request is still arriving."""

    sock: socket.socket
    addr: Any
    listener: Any
    since: float
    body_limit: int
    data: bytearray = field(default_factory=bytearray)
    head_end: int = -1  # index of the blank line ending the head, once seen
    continued: bool = False  # 100 Continue sent
    chunk_pos: int = -1  # chunked: where the next chunk-size line starts
    chunked_bytes: int = 0
    last_read: float = 0.0  # when bytes last arrived (0: none since the connection)

    def feed(self, chunk: bytes) -> bool:
        """Add bytes; True once the request can be handed to gunicorn."""
        self.data += chunk
        self.last_read = time.monotonic()
        return self.ready()

    def ready(self) -> bool:
        if self.head_end < 0:
            self.head_end = self.data.find(b"\r\n\r\n")
            if self.head_end < 0:
                return len(self.data) > HEAD_LIMIT
        head = bytes(self.data[: self.head_end + 2])
        body = len(self.data) - (self.head_end + 4)
        encodings = _TRANSFER_ENCODING.findall(head)
        if encodings:
            last = encodings[-1].split(b",")[-1].strip().lower()
            if len(encodings) > 1 or last != b"chunked" or _CONTENT_LENGTH.search(head):
                return True  # gunicorn refuses it
            done = self._chunked_done()
        else:
            lengths = _CONTENT_LENGTH.findall(head)
            if not lengths:
                return True  # no body
            if len(set(lengths)) > 1 or not lengths[0].isdigit():
                return True  # gunicorn refuses it
            declared = int(lengths[0])
            if declared > self.body_limit:
                return True  # the app refuses it from the header alone
            done = body >= declared
        if not done and not self.continued and _EXPECT_CONTINUE.search(head):
            self.continued = True
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return done

    def _chunked_done(self) -> bool:
        """Scan the chunks that have arrived; True at the end of the chunked body, at a
        malformed chunk (gunicorn refuses it) or past the body limit (the app refuses it)."""
        data = self.data
        if self.chunk_pos < 0:
            self.chunk_pos = self.head_end + 4
        while True:
            line_end = data.find(b"\r\n", self.chunk_pos)
            if line_end < 0:
                return len(data) - self.chunk_pos > 8192
            size_field = bytes(data[self.chunk_pos : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError:
                return True
            if size < 0 or not size_field.isalnum():
                return True
            if size == 0:
                trailers = data.find(b"\r\n", line_end + 2)
                if trailers == line_end + 2:
                    return True
                return data.find(b"\r\n\r\n", line_end) >= 0 or len(data) - line_end > HEAD_LIMIT
            following = line_end + 2 + size + 2
            if len(data) < following:
                return self.chunked_bytes + (len(data) - line_end - 2) > self.body_limit
            self.chunked_bytes += size
            if self.chunked_bytes > self.body_limit:
                return True
            self.chunk_pos = following


def _parser(cfg: Any, source: Any, addr: Any) -> Any:
    """gunicorn's HTTP/1 request parser over `source` (older releases have no get_parser)."""
    get_parser = getattr(http, "get_parser", None)
    if get_parser is not None:
        return get_parser(cfg, source, addr)
    return http.RequestParser(cfg, source, addr)  # pragma: no cover - older gunicorn


class _Prefilled:
    """What gunicorn's parser reads from: the bytes already in, then the socket."""

    def __init__(self, sock: socket.socket, data: bytearray) -> None:
        self.sock = sock
        self.data = memoryview(data)  # no copy of the body: its bytes are complete, never fed again

    def recv(self, size: int) -> bytes:
        if self.data:
            piece, self.data = bytes(self.data[:size]), self.data[size:]
            return piece
        return self.sock.recv(size)


class BufferingSyncWorker(SyncWorker):  # type: ignore[misc]
    """A sync worker that works on a request only once all of it has arrived."""

    buffer_limit: int  # CDS_MAX_BUFFERED_BYTES, read when the worker runs

    def run(self) -> None:
        if self.cfg.is_ssl:  # TLS ends at the proxy in front; keep gunicorn's own path
            super().run()
            return
        from ..config import Settings

        settings = Settings.load()
        body_limit, self.buffer_limit = settings.max_body_bytes, settings.max_buffered_bytes
        selector = selectors.DefaultSelector()
        for listener in self.sockets:
            listener.setblocking(False)
            selector.register(listener, selectors.EVENT_READ, listener)
        selector.register(self.PIPE[0], selectors.EVENT_READ, "wakeup")
        arriving: dict[socket.socket, Arriving] = {}
        lingering: dict[socket.socket, float] = {}
        ready: list[Arriving] = []
        accepting = True
        timeout = self.timeout or 0.5
        stop_by: float | None = None
        while True:
            if not self.alive:  # stopping (SIGTERM, max_requests): answer what was taken
                if stop_by is None:
                    stop_by = time.monotonic() + self.cfg.graceful_timeout
                if not (ready or arriving) or time.monotonic() > stop_by:
                    break
            self.notify()
            if ready:
                self.answer(ready.pop(0), selector, lingering)
                continue  # the next complete request first, then new connections
            want_accept = self.alive
            if want_accept != accepting:
                for listener in self.sockets:
                    if want_accept:
                        selector.register(listener, selectors.EVENT_READ, listener)
                    else:
                        selector.unregister(listener)
                accepting = want_accept
            now = time.monotonic()
            deadlines = [a.since + ARRIVAL_TIMEOUT_S for a in arriving.values()]
            wait = min([timeout, *(max(0.0, d - now) for d in [*deadlines, *lingering.values()])])
            try:
                events = selector.select(wait)
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    raise
                events = []
            accepted_one = False
            for key, _ in events:
                tag = key.data
                if tag == "wakeup":
                    _drain_pipe(self.PIPE[0])
                elif isinstance(tag, Arriving):
                    if self.read(tag, selector, arriving):
                        ready.append(tag)
                elif tag == "lingering":
                    _linger_read(key.fileobj, selector, lingering)  # type: ignore[arg-type]
                elif not accepted_one:  # a listener: one connection per round, see above
                    accepted_one = self.accept_one(tag, selector, arriving, body_limit, ready)
            self.expire(selector, arriving, lingering)
            if not self.is_parent_alive():
                break
        for sock in [*arriving, *lingering]:
            util.close(sock)
        selector.close()

    def accept_one(
        self,
        listener: Any,
        selector: selectors.BaseSelector,
        arriving: dict[socket.socket, Arriving],
        body_limit: int,
        ready: list[Arriving],
    ) -> bool:
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return False
            raise
        sock.setblocking(False)
        util.close_on_exec(sock)
        if len(arriving) >= MAX_ARRIVING:
            # Idle connections must not keep new ones out. One goes: without a whole head before
            # one with (a body on its way), then the one quiet the longest.
            oldest = min(
                arriving.values(),
                key=lambda state: (state.head_end >= 0, max(state.since, state.last_read)),
            )
            self.log.warning("closed a connection: over %d still arriving", MAX_ARRIVING)
            self._close_arriving(oldest, selector, arriving)
        state = Arriving(sock, addr, listener, time.monotonic(), body_limit)
        arriving[sock] = state
        selector.register(sock, selectors.EVENT_READ, state)
        # Usually the request is there already: take it now instead of after a select.
        if self.read(state, selector, arriving):
            ready.append(state)
        return True

    def read(
        self,
        state: Arriving,
        selector: selectors.BaseSelector,
        arriving: dict[socket.socket, Arriving],
    ) -> bool:
        """Read what has arrived; True when the request is complete, or cut short by the
        client's end of sending (gunicorn then answers the framing error); it is no longer
        watched then. A connection that failed, or ended before sending anything, is dropped."""
        failed = False
        try:
            chunk = state.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk, failed = b"", True
        try:
            complete = bool(chunk) and state.feed(chunk)
        except OSError:  # the 100 Continue could not be sent
            chunk, complete, failed = b"", False, True
        if chunk and not complete:
            self._keep_under_the_limit(selector, arriving)
            return False
        selector.unregister(state.sock)
        del arriving[state.sock]
        if not chunk and (failed or not state.data):
            util.close(state.sock)
            return False
        return True

    def _keep_under_the_limit(
        self, selector: selectors.BaseSelector, arriving: dict[socket.socket, Arriving]
    ) -> None:
        """Close the largest requests still arriving while they hold more than the limit
        together: a flood's large bodies go first, a small request in the middle of one stays."""
        held = sum(len(state.data) for state in arriving.values())
        while held > self.buffer_limit and len(arriving) > 1:
            largest = max(arriving.values(), key=lambda state: len(state.data))
            held -= len(largest.data)
            self.log.warning(
                "closed a connection: requests still arriving held over %d bytes "
                "(CDS_MAX_BUFFERED_BYTES)",
                self.buffer_limit,
            )
            self._close_arriving(largest, selector, arriving)

    @staticmethod
    def _close_arriving(
        state: Arriving, selector: selectors.BaseSelector, arriving: dict[socket.socket, Arriving]
    ) -> None:
        selector.unregister(state.sock)
        del arriving[state.sock]
        util.close(state.sock)

    def answer(
        self,
        state: Arriving,
        selector: selectors.BaseSelector,
        lingering: dict[socket.socket, float],
    ) -> None:
        """gunicorn's sync handling of one request, from the bytes that arrived."""
        client, addr, listener = state.sock, state.addr, state.listener
        client.setblocking(True)
        client.settimeout(ARRIVAL_TIMEOUT_S)  # only a request handed over unfinished reads on
        req = None
        try:
            parser = _parser(self.cfg, _Prefilled(client, state.data), addr)
            req = next(parser)
            self.handle_request(listener, req, client, addr)
        except http.errors.NoMoreData as exc:
            self.log.debug("Ignored premature client disconnection. %s", exc)
        except StopIteration as exc:
            self.log.debug("Closing connection. %s", exc)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.exception("Socket error processing request.")
        except BaseException as exc:  # gunicorn's own handling: parse errors, app failures
            self.handle_error(req, client, addr, exc)
        finally:
            _close_or_linger(client, selector, lingering)

    def expire(
        self,
        selector: selectors.BaseSelector,
        arriving: dict[socket.socket, Arriving],
        lingering: dict[socket.socket, float],
    ) -> None:
        now = time.monotonic()
        for state in list(arriving.values()):
            if now - state.since > ARRIVAL_TIMEOUT_S:
                self._close_arriving(state, selector, arriving)
        for sock, until in list(lingering.items()):
            if now > until:
                selector.unregister(sock)
                del lingering[sock]
                util.close(sock)


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        return


def _close_or_linger(
    sock: socket.socket, selector: selectors.BaseSelector, lingering: dict[socket.socket, float]
) -> None:
    """Close after the answer. Closing while the client's bytes sit unread would send a reset
    that can cut the answer it has not read yet: such a connection is half-closed and drained
    in the selector until its client closes (at most LINGER_S); any other closes at once."""
    if not half_close_with_bytes_unread(sock):
        util.close(sock)
        return
    lingering[sock] = time.monotonic() + LINGER_S
    selector.register(sock, selectors.EVENT_READ, "lingering")


def _linger_read(
    sock: socket.socket, selector: selectors.BaseSelector, lingering: dict[socket.socket, float]
) -> None:
    try:
        if sock.recv(READ_SIZE):
            return
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        pass
    selector.unregister(sock)
    del lingering[sock]
    util.close(sock)


def half_close_with_bytes_unread(sock: socket.socket) -> bool:
    """Half-close `sock` (the answer is complete); True when the client's bytes sit unread in
    it (closing now would send a reset). False when nothing is pending or it has closed."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.setblocking(False)
        return sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:  # nothing unread (EAGAIN), or already reset or closed
        return False


# --- the threaded worker (`--threads` > 1) --------------------------------------------------

# gthread closes a connection from the one thread that accepts and dispatches every connection
# of the worker, lingering there (gunicorn's close_graceful, up to 2 s) until the client closes:
# one client that never closes stalled the whole worker. Here a connection with nothing unread
# closes at once and one whose client still sends lingers on these threads; past MAX_LINGERING
# at once (a flood) it closes at once.
CLOSING_THREADS = 4
MAX_LINGERING = 64


def threaded_worker() -> type:
    """gunicorn's gthread worker, its lingering closes off the thread that dispatches."""
    return _ThreadedWorker


def _drain(sock: socket.socket, seconds: float) -> None:
    """Read and drop what the client still sends, until it closes or `seconds` pass."""
    deadline = time.monotonic() + seconds
    sock.setblocking(True)
    while (left := deadline - time.monotonic()) > 0:
        try:
            sock.settimeout(left)
            if not sock.recv(READ_SIZE):
                return
        except OSError:
            return


class _ThreadedWorker(ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        self.closer = ThreadPoolExecutor(CLOSING_THREADS, thread_name_prefix="calf-close")
        self.lingering = threading.BoundedSemaphore(MAX_LINGERING)
        super().init_process()

    def finish_request(self, conn: Any, fs: Any) -> None:
        conn.close = functools.partial(self.close_connection, conn)
        super().finish_request(conn, fs)

    def close_connection(self, conn: Any, graceful: bool = False) -> None:
        sock = conn.sock
        if graceful and half_close_with_bytes_unread(sock) and self.lingering.acquire(False):
            self.closer.submit(self.linger_and_close, sock)
        else:
            util.close(sock)

    def linger_and_close(self, sock: socket.socket) -> None:
        try:
            _drain(sock, LINGER_S)
        finally:
            util.close(sock)
            self.lingering.release()
