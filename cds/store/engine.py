"""The store's engine: which URLs, how connections are made and set up, and fork safety.

SQLite: WAL, SQLite's own busy timeout, writes opened with BEGIN IMMEDIATE, and the database
file opened read-write but never created by a connection (`calf-cds db upgrade` creates it),
with the file's identity kept per connection (`SqliteFile`). PostgreSQL: psycopg 3 with connect
and statement timeouts, new connections made through the circuit breaker.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pybreaker
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from ..errors import ConfigurationError

# How long a write waits for another writer's lock on a SQLite file (SQLite's busy handler):
# short, so a locked file never delays a clinical answer by much more than a second.
SQLITE_BUSY_TIMEOUT_S = 1.0
# PostgreSQL: libpq `connect_timeout` (whole seconds), and a statement timeout so that a hung
# server cannot hold a request for long.
PG_CONNECT_TIMEOUT_S = 2
PG_STATEMENT_TIMEOUT_MS = 5000
# Waiting for a free pooled connection is bounded too (QueuePool's default is 30 s).
POOL_TIMEOUT_S = 2.0
_FILE_IDENTITY = "calf_cds_sqlite_file"


def normalise_url(raw: str) -> URL:
    """Parse `CDS_DATABASE_URL`; `postgres://` and `postgresql://` mean psycopg 3.

    Raises ConfigurationError for a malformed URL or a database other than SQLite/PostgreSQL.
    """
    try:
        url = sa.make_url(raw)
    except sa_exc.ArgumentError as exc:
        raise ConfigurationError(f"CDS_DATABASE_URL is not a database URL: {exc}") from exc
    backend = url.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        # psycopg 3 is the one PostgreSQL driver shipped; "postgres://" is Heroku-style.
        url = url.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigurationError(
            f"CDS_DATABASE_URL must be sqlite:/// or postgresql+psycopg://, got {backend!r}"
        )
    return url


@dataclass(frozen=True)
class SqliteFile:
    """The database file at a path, and the file (device, inode) each connection opened: a
    connection keeps its file when the path is deleted or another file is moved there, and
    what it writes then is not in the database a restart will read."""

    path: str  # absolute

    @classmethod
    def of(cls, url: URL) -> SqliteFile | None:
        """The file of a plain `sqlite:///path` URL; None for memory or URI-style URLs."""
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in {"", ":memory:"} or url.query:
            return None
        return cls(os.path.abspath(database))

    def identity(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the file at the path now; None when there is none."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    @staticmethod
    def opened_by(connection: Connection) -> tuple[int, int] | None:
        """The identity of the file `connection` opened (None: not known)."""
        opened: tuple[int, int] | None = connection.info.get(_FILE_IDENTITY)
        return opened


def create_engine(url: URL, *, breaker: pybreaker.CircuitBreaker, busy_timeout_s: float) -> Engine:
    """Create (not connect) the engine; the first connection is made by the first query."""
    if url.get_backend_name() == "sqlite":
        # No pre-ping: a file cannot go away the way a network peer can (see SqliteFile).
        engine = sa.create_engine(
            url,
            connect_args={"timeout": busy_timeout_s, "isolation_level": "IMMEDIATE"},
            pool_timeout=POOL_TIMEOUT_S,
        )
        _configure_sqlite(engine, SqliteFile.of(url))
    else:
        engine = sa.create_engine(
            url,
            connect_args={
                "connect_timeout": PG_CONNECT_TIMEOUT_S,
                "options": f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}",
                "application_name": "calf-cds",
            },
            pool_pre_ping=True,
            pool_timeout=POOL_TIMEOUT_S,
        )
        _connect_through(engine, breaker)
    _forget_connections_after_fork(engine)
    return engine


def _connect_through(engine: Engine, breaker: pybreaker.CircuitBreaker) -> None:
    """After a failed PostgreSQL connect, connecting fails at once for the breaker's reset
    timeout, not after another connect timeout. (Opening a SQLite file fails at once.)"""

    @event.listens_for(engine, "do_connect")
    def _connect(
        dialect: sa.Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        return breaker.call(dialect.connect, *cargs, **cparams)


def _configure_sqlite(engine: Engine, file: SqliteFile | None) -> None:
    """WAL, foreign keys, and the file opened read-write (`mode=rw`: a deleted file is an
    error, not a new empty database). The driver begins each writing transaction with BEGIN
    IMMEDIATE at its first write (sqlite3's `isolation_level`), which waits for another
    writer's lock up to the busy timeout; a deferred BEGIN's read snapshot could not become a
    write in WAL mode once another process wrote (SQLITE_BUSY at once, whatever the timeout).
    """

    if file is not None:

        @event.listens_for(engine, "do_connect")
        def _read_write(_dialect: Any, _record: Any, cargs: list[Any], params: Any) -> None:
            cargs[:] = [f"file:{quote(file.path)}?mode=rw"]
            params["uri"] = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # WAL makes synchronous NORMAL durable across a crash or restart of the service;
        # only an OS crash can lose the last transactions.
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")
        if file is not None:
            record.info[_FILE_IDENTITY] = file.identity()


def _forget_connections_after_fork(engine: Engine) -> None:
    """A forked child (a gunicorn worker) drops the parent's pooled connections without closing
    them: `dispose(close=False)`, SQLAlchemy's "Using Connection Pools with Multiprocessing or
    os.fork()". The weak reference keeps no engine alive."""
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)
