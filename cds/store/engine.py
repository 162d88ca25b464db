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
from pathlib import Path
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
# Execution option of a connection whose transaction writes (SQLite: BEGIN IMMEDIATE).
WRITE = "calf_cds_write"
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
    """The database file at a path, and the file each connection opened.

    A connection keeps the file it opened even when the path is deleted or another file is
    moved there; what it writes then is not in the database a restart will read. The
    (device, inode) pair of the path is recorded when a connection opens it, for the store to
    compare with the path's before and after each transaction.
    """

    path: str  # absolute

    @classmethod
    def of(cls, url: URL) -> SqliteFile | None:
        """The file of a plain `sqlite:///path` URL; None for memory or URI-style URLs."""
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
            return None
        if "uri" in url.query:
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

    def create(self) -> None:
        """An empty file is an empty SQLite database; connections never create one."""
        Path(self.path).touch(exist_ok=True)

    def uri(self) -> str:
        # mode=rw: a deleted file is an error at connect, not a new empty database.
        return f"file:{quote(self.path)}?mode=rw"


def create_engine(url: URL, *, breaker: pybreaker.CircuitBreaker, busy_timeout_s: float) -> Engine:
    """Create (not connect) the engine; the first connection is made by the first query."""
    if url.get_backend_name() == "sqlite":
        # No pre-ping: a connection to a file cannot go stale the way a network one can
        # (a file deleted or replaced under it is the store's to catch, see SqliteFile).
        engine = sa.create_engine(
            url, connect_args={"timeout": busy_timeout_s}, pool_timeout=POOL_TIMEOUT_S
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
    """New PostgreSQL connections go through the breaker: after a failed one, connecting
    fails at once for the breaker's reset timeout instead of waiting out another connect
    timeout (a black-holed host). Opening a SQLite file fails at once anyway."""

    @event.listens_for(engine, "do_connect")
    def _connect(
        dialect: sa.Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        return breaker.call(dialect.connect, *cargs, **cparams)


def _configure_sqlite(engine: Engine, file: SqliteFile | None) -> None:
    """WAL, foreign keys, and transactions that SQLAlchemy (not pysqlite) begins: the SQLite
    recipe of the SQLAlchemy documentation ("Enabling Transactions"), so that a write
    transaction starts with BEGIN IMMEDIATE. A deferred BEGIN would take a read snapshot that
    cannot be upgraded to a write in WAL mode once another process has written: SQLITE_BUSY at
    once, whatever the busy timeout. BEGIN IMMEDIATE waits for the lock (the busy timeout).
    """

    if file is not None:

        @event.listens_for(engine, "do_connect")
        def _open_read_write(
            _dialect: sa.Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]
        ) -> None:
            cargs[:] = [file.uri()]
            cparams["uri"] = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL makes NORMAL durable across application crashes (a restart); only an OS
            # crash can lose the last transactions.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
        if file is not None:
            record.info[_FILE_IDENTITY] = file.identity()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _forget_connections_after_fork(engine: Engine) -> None:
    """In a forked child (a gunicorn worker), drop the parent's pooled connections without
    closing them: `dispose(close=False)`, as SQLAlchemy's "Using Connection Pools with
    Multiprocessing or os.fork()" says. A weak reference keeps the hook from keeping a
    disposed engine alive."""
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)
