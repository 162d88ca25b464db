"""A FHIR server on a raw loopback socket, for what an HTTP framework cannot do: send its status
line or its headers one byte at a time (tests/test_fhir_client.py, bench/soak.py).

The first path segment chooses the behaviour:
- `/drip-status/...`: the status line, one byte every `gap_s` seconds;
- `/drip-headers/...`: the status line at once, then the headers one byte every `gap_s`;
- `/drip-after-1/...`: page 1 of a search at once (its `next` link points to page 2), every
  later page's headers dripped;
- anything else: answered at once (a search: one page, `resources[path's resource type]`).

Every request's path and query are recorded. Stopping closes the listener and every connection
and joins the connection threads (a dripping answer stops at its next byte).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

FHIR_JSON = "application/fhir+json"


@dataclass
class RawFhir:
    gap_s: float = 1.0
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    url: str = ""
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _connections: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> RawFhir:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def paths(self) -> list[str]:
        with self._lock:
            return list(self.seen)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        try:
            with connection:
                head = _read_head(connection)
                if head is None:
                    return
                target = head.split(b" ", 2)[1].decode("latin-1")
                with self._lock:
                    self.seen.append(target)
                self._answer(connection, target)
        except OSError:
            pass  # the client gave up (its deadline) or the server is stopping

    def _answer(self, connection: socket.socket, target: str) -> None:
        parts = urlsplit(target)
        segments = parts.path.strip("/").split("/")
        mode, resource_type = segments[0], segments[-1]
        page = int(parse_qs(parts.query).get("page", ["1"])[0])
        status = b"HTTP/1.1 200 OK\r\n"
        body = json.dumps(self._page(mode, resource_type, page)).encode()
        headers = (
            f"Content-Type: {FHIR_JSON}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        if mode == "drip-status":
            self._drip(connection, status)
        elif mode == "drip-headers" or (mode == "drip-after-1" and page > 1):
            connection.sendall(status)
            self._drip(connection, headers)
        connection.sendall(status + headers + body)

    def _page(self, mode: str, resource_type: str, page: int) -> dict[str, Any]:
        entries = [{"resource": r} for r in self.resources.get(resource_type, [])]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        if mode == "drip-after-1":
            bundle["link"] = [
                {"relation": "next", "url": f"{self.url}/{mode}/{resource_type}?page={page + 1}"}
            ]
        return bundle

    def _drip(self, connection: socket.socket, data: bytes) -> None:
        for byte in data:
            if self._stop.wait(self.gap_s):
                raise OSError("stopping")
            connection.sendall(bytes([byte]))


def _read_head(connection: socket.socket) -> bytes | None:
    data = b""
    connection.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


@contextmanager
def raw_fhir(**options: Any) -> Iterator[RawFhir]:
    server = RawFhir(**options).start()
    try:
        yield server
    finally:
        server.stop()
