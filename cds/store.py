"""The store: issued cards, clinician feedback, JWT jti records (the only SQLAlchemy importer).

SQLite (default, a file in the working directory, WAL mode) or PostgreSQL via psycopg 3, chosen by
`CDS_DATABASE_URL`. The schema is owned by the Alembic migrations in `cds/migrations`; `METADATA`
below mirrors them (a test checks the two agree). Every connectivity failure surfaces as
`errors.StoreUnavailable` and fails fast, so clinical answers never wait on the store
(cds-hooks.md "Feedback", "Security"; issue 4).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine

from .errors import BadRequest, ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

Outcome = Literal["accepted", "overridden"]
OUTCOMES: tuple[str, ...] = ("accepted", "overridden")

# Meta key of the per-install patient-hash salt, created by the first migration so that every
# worker and every instance sharing the database hashes a patient id the same way.
SALT_KEY = "patient_hash_salt"
# How long a feedback/record call may wait for a locked SQLite file before giving up: short, so
# a locked or stuck file never delays a clinical answer by more than about a second.
SQLITE_BUSY_TIMEOUT_S = 1.0
# PostgreSQL: connect timeout (libpq `connect_timeout`, whole seconds) and a statement timeout
# so that a hung server cannot hold a request for long.
PG_CONNECT_TIMEOUT_S = 2
PG_STATEMENT_TIMEOUT_MS = 5000
# After a failed connection, calls fail at once for this long before the next attempt.
RECONNECT_AFTER_S = 5.0
# Waiting for a free pooled connection is bounded too (QueuePool's default is 30 s).
POOL_TIMEOUT_S = 2.0
# SQLite caps bound parameters per statement; look cards up in chunks well below any limit.
_IN_CHUNK = 500


# --- time ---------------------------------------------------------------------------------


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes only, stored in UTC; read back as aware UTC on every dialect.

    SQLite has no time-zone type: values are stored as naive UTC text (which also compares
    correctly as text). PostgreSQL stores `timestamptz`. Two timestamps naming the same instant
    in different offsets are therefore equal in the feedback unique constraint.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the store takes aware datetimes only (with a UTC offset)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


# --- schema (mirrors cds/migrations/versions) -------------------------------------------------

METADATA = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)
# SQLite only autoincrements an `INTEGER PRIMARY KEY`; PostgreSQL gets a 64-bit identity.
_ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ISSUED_CARDS = sa.Table(
    "issued_cards",
    METADATA,
    sa.Column("card_uuid", sa.String(64), primary_key=True),
    sa.Column("suggestion_uuids", sa.JSON(), nullable=False),
    sa.Column("rule_id", sa.String(64), nullable=True),  # None: a data-quality (info) card
    sa.Column("rule_set_version", sa.String(32), nullable=False),
    sa.Column("service_id", sa.String(128), nullable=False),
    sa.Column("hook_instance", sa.String(128), nullable=True),
    sa.Column("patient_hash", sa.String(64), nullable=True),
    sa.Column("indicator", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # One index besides the key: every hook call writes here (migration 0002 says why).
    sa.Index(None, "created_at"),
)

FEEDBACK = sa.Table(
    "feedback",
    METADATA,
    sa.Column("id", _ID_TYPE, primary_key=True, autoincrement=True),
    # No foreign key: feedback for a card the store never saw (issued while it was down) is
    # kept all the same, flagged unmatched (cds-hooks.md "Feedback").
    sa.Column("card_uuid", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
    sa.Column("override_reason_system", sa.String(512), nullable=True),
    sa.Column("override_reason_code", sa.String(128), nullable=True),
    sa.Column("override_reason_display", sa.String(512), nullable=True),
    sa.Column("user_comment", sa.Text(), nullable=True),
    sa.Column("outcome_timestamp", UtcDateTime(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("matched", sa.Boolean(), nullable=False),
    # Duplicates (same card, outcome, timestamp) are stored once, also under concurrency: the
    # insert is ON CONFLICT DO NOTHING against this constraint.
    sa.UniqueConstraint("card_uuid", "outcome", "outcome_timestamp"),
    sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),
)

JTI_RECORDS = sa.Table(
    "jti_records",
    METADATA,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Index(None, "expires_at"),
)

META = sa.Table(
    "meta",
    METADATA,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCard:
    """One card as answered to the EHR; no PHI (the patient id is a salted hash)."""

    card_uuid: str
    suggestion_uuids: Sequence[str]
    rule_id: str | None  # None for data-quality cards that belong to no rule
    rule_set_version: str
    service_id: str
    hook_instance: str | None  # None on the testers' POST /evaluate path
    patient_hash: str | None  # "" or None when the request named no patient
    indicator: str
    created_at: datetime


@dataclass(frozen=True)
class OverrideReason:
    """The Coding a clinician chose when overriding (all parts optional on the wire)."""

    system: str | None = None
    code: str | None = None
    display: str | None = None


@dataclass(frozen=True)
class FeedbackEntry:
    """One element of a feedback body (cds-hooks.md "Feedback"), already envelope-valid."""

    card_uuid: str
    outcome: Outcome
    outcome_timestamp: datetime  # aware
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None
    user_comment: str | None = None


@dataclass(frozen=True)
class FeedbackResult:
    """stored: new rows; duplicates: entries already stored (or repeated within the body);
    unmatched: of the stored rows, those naming a card the store never recorded."""

    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0


@dataclass(frozen=True)
class ReasonCount:
    system: str | None
    code: str | None  # None: overridden without a coded reason
    display: str | None
    count: int


@dataclass(frozen=True)
class RuleReportRow:
    """One rule's alert-fatigue numbers over the cards issued in the report window.

    accepted/overridden count distinct cards with at least one such outcome; override_rate is
    overridden / (accepted + overridden), None when no card of the rule has an outcome yet.
    rule_id None collects the data-quality cards.
    """

    rule_id: str | None
    issued: int
    accepted: int
    overridden: int
    override_rate: float | None
    top_override_reasons: tuple[ReasonCount, ...] = ()


@dataclass(frozen=True)
class RuleReport:
    """The per-rule rows plus the feedback that names no recorded card (reported apart)."""

    rows: tuple[RuleReportRow, ...]
    unmatched_feedback: int
    since: datetime | None = None
    generated_at: datetime = field(default_factory=_now)


# --- the store -------------------------------------------------------------------------------


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


def _engine_for(url: URL, *, busy_timeout_s: float) -> Engine:
    """Create (not connect) the engine; the first connection is made by the first query."""
    if url.get_backend_name() == "sqlite":
        # No pre-ping: a connection to a database file cannot go stale the way a network
        # connection can, and the ping was a statement on every request's card write.
        engine = sa.create_engine(
            url,
            connect_args={"timeout": busy_timeout_s},
            pool_timeout=POOL_TIMEOUT_S,
        )
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    return sa.create_engine(
        url,
        connect_args={
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}",
            "application_name": "calf-cds",
        },
        pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT_S,
    )


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    """WAL, a busy timeout, foreign keys, and transactions that SQLAlchemy (not pysqlite) opens.

    pysqlite's own implicit BEGIN would start a read transaction that later has to upgrade to a
    write lock, which in WAL mode fails at once with SQLITE_BUSY instead of waiting. Write
    transactions here open with BEGIN IMMEDIATE (see `Store._transaction`) and wait for the
    lock up to the busy timeout instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL makes NORMAL durable across application crashes; only an OS crash can lose
            # the last transactions, which is acceptable for feedback statistics.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("calf_cds_write", False):
            _begin_immediate(connection, busy_timeout_s)
        else:
            connection.exec_driver_sql("BEGIN")


# SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries, so a card write
# that met the other worker's 0.2 ms write often waited 10-30 ms (the p99 under load).
_LOCK_RETRY_FIRST_S = 0.0001
_LOCK_RETRY_MAX_S = 0.001


def _begin_immediate(connection: Connection, busy_timeout_s: float) -> None:
    """BEGIN IMMEDIATE (the write lock), retried in sub-millisecond steps for up to the busy
    timeout; the last try goes through SQLAlchemy, so a lock held for good fails after about
    `busy_timeout_s` with the same OperationalError as before.

    pysqlite runs in autocommit mode here (isolation_level None): a BEGIN sent on the driver
    connection opens the transaction SQLAlchemy then commits or rolls back.
    """
    raw = connection.connection.driver_connection
    if raw is None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    raw.execute("PRAGMA busy_timeout = 0")  # a pooled connection: its timeout is off while polling
    try:
        _poll_write_lock(raw, busy_timeout_s, lambda: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    finally:
        with contextlib.suppress(sqlite3.Error):
            raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")


def _poll_write_lock(
    raw: sqlite3.Connection, busy_timeout_s: float, last_try: Callable[[], object]
) -> None:
    """BEGIN IMMEDIATE on `raw` (busy timeout 0), tried in sub-millisecond steps for up to
    `busy_timeout_s`; then `last_try` (the same BEGIN, without waiting) raises why the lock
    cannot be had."""
    deadline = time.monotonic() + busy_timeout_s
    pause = _LOCK_RETRY_FIRST_S
    while time.monotonic() + pause < deadline:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                break  # not contention: the last try raises it
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_RETRY_MAX_S)
    last_try()


class _KeptConnection:
    """One thread's card-write connection, closed when the last reference goes: when its
    thread ends (with the thread-local holding it), so a server that starts a thread per
    request keeps no connection per finished request, or when it is replaced."""

    __slots__ = ("generation", "raw")

    def __init__(self, raw: sqlite3.Connection, generation: int) -> None:
        self.raw: sqlite3.Connection | None = raw
        self.generation = generation

    def __del__(self) -> None:
        if self.raw is not None:
            with contextlib.suppress(sqlite3.Error):
                self.raw.close()


class _CardWriteConnections:
    """One SQLite connection per thread for the card write on every hook call, kept open.

    Taken from the engine's pool once (so configured by its connect event) and detached from
    it, with its busy timeout left at 0 for `_poll_write_lock`: the pool check-out and check-in
    and the two busy-timeout switches cost about a fifth of the write (bench/README.md,
    pass 7). Dropped after any error, so the next write starts on a fresh connection.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._generation = 0  # bumped by close_all/forget: connections made before are stale

    def get(self, pooled_connection: Callable[[], Any]) -> sqlite3.Connection:
        """This thread's connection, made from `pooled_connection()` when it has none."""
        kept: _KeptConnection | None = getattr(self._local, "kept", None)
        if kept is not None:
            if kept.generation == self._generation and kept.raw is not None:
                return kept.raw
            del self._local.kept  # stale (close_all): closed here, by its own thread
        pooled = pooled_connection()
        raw = pooled.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        pooled.detach()  # ours from now on; the pool neither counts nor reuses it
        kept = _KeptConnection(raw, self._generation)
        raw.execute("PRAGMA busy_timeout = 0")  # if it fails, `kept` goes and closes `raw`
        self._local.kept = kept
        return raw

    def discard(self, raw: sqlite3.Connection) -> None:
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept.raw is raw:
            del self._local.kept
        with contextlib.suppress(sqlite3.Error):
            raw.close()

    def close_all(self) -> None:
        """Close this thread's connection now, every other thread's at its next card write
        (or its end): never one that another thread is writing on."""
        self._generation += 1
        self._local.__dict__.pop("kept", None)

    def forget(self) -> None:
        """In a forked child: the connection inherited from the forking thread is not ours to
        use, nor to close (closing the last connection to a WAL database checkpoints it and
        may delete the parent's -wal file): it is parked, never freed. Only a process that
        wrote cards before forking has one; gunicorn's master writes none."""
        self._generation += 1
        kept = self._local.__dict__.pop("kept", None)
        if kept is not None and kept.raw is not None:
            _INHERITED_CONNECTIONS.append(kept.raw)
            kept.raw = None


_INHERITED_CONNECTIONS: list[sqlite3.Connection] = []


class _DriverInsert:
    """An INSERT compiled once for an engine's dialect, with rows bound the way SQLAlchemy
    binds them (its types' own bind processors), to run on the driver connection."""

    def __init__(self, statement: Any, engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        table = statement.table
        self.columns = tuple(compiled.positiontup or ())
        dialect = engine.dialect
        self._processors = tuple(
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.columns
        )

    def row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip(
                map(values.__getitem__, self.columns), self._processors, strict=True
            )
        )


def _issued_values(card: IssuedCard) -> dict[str, Any]:
    return {
        "card_uuid": card.card_uuid,
        "suggestion_uuids": list(card.suggestion_uuids),
        "rule_id": card.rule_id,
        "rule_set_version": card.rule_set_version,
        "service_id": card.service_id,
        "hook_instance": card.hook_instance,
        "patient_hash": card.patient_hash or None,
        "indicator": card.indicator,
        "created_at": card.created_at,
    }


_Opened = TypeVar("_Opened")

# Failures that mean "the database cannot be reached or used right now", as opposed to bugs.
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
# The same, as the sqlite3 driver raises them (SQLAlchemy wraps these two as the first two).
_SQLITE_UNAVAILABLE = (sqlite3.OperationalError, sqlite3.InterfaceError)


class Store:
    """Issued cards, feedback, jti records and the patient-hash salt, in one database.

    Thread-safe (one engine, pooled connections) and fork-safe: a forked child forgets the
    parent's pooled connections (os.register_at_fork), so gunicorn workers never share one.
    Close with `close()` (or use as a context manager) to release connections.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        patient_hash_salt: str = "",
        reconnect_after_s: float = RECONNECT_AFTER_S,
        busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
    ) -> None:
        self._engine = engine
        self._busy_timeout_s = busy_timeout_s
        self._salt: bytes | None = patient_hash_salt.encode() if patient_hash_salt else None
        self._fallback_salt = secrets.token_bytes(32)
        self._reconnect_after_s = reconnect_after_s
        self._down_until = 0.0  # time.monotonic() before which no connection is attempted
        self._inserts: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._sqlite_card_insert: _DriverInsert | None = None
        self._checkpointer = _WalCheckpointer(engine) if engine.dialect.name == "sqlite" else None
        self._card_writes = _CardWriteConnections()
        _forget_connections_after_fork(self)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        settings: Settings | None = None,
        patient_hash_salt: str | None = None,
        busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
        reconnect_after_s: float = RECONNECT_AFTER_S,
    ) -> Store:
        """A store for `url` (see `normalise_url`). Does not connect: the app starts with the
        database down and each call reports StoreUnavailable until it is back.

        The salt is `patient_hash_salt`, else `settings.patient_hash_salt`; when both are empty
        the per-install random salt in the `meta` table is used. After a failed connection
        the store answers StoreUnavailable at once for `reconnect_after_s` (see `_connect`).
        """
        if patient_hash_salt is None:
            patient_hash_salt = settings.patient_hash_salt if settings is not None else ""
        return cls(
            _engine_for(normalise_url(url), busy_timeout_s=busy_timeout_s),
            patient_hash_salt=patient_hash_salt,
            reconnect_after_s=reconnect_after_s,
            busy_timeout_s=busy_timeout_s,
        )

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with any password masked (safe to log)."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close pooled connections. The store can still be used afterwards (it reconnects)."""
        self._card_writes.close_all()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing --

    def _connect(self, *, probe: bool = False) -> Connection:
        """A pooled connection, or StoreUnavailable.

        A failed connection attempt opens a short circuit breaker: for `reconnect_after_s`
        every call fails at once instead of waiting out another connect timeout, so a database
        that is down (or a black-holed host) adds no latency to clinical answers. `probe`
        (readiness) always tries, and a success closes the breaker.
        """
        return self._through_breaker(self._engine.connect, probe=probe)

    def _through_breaker(self, open_connection: Callable[[], _Opened], *, probe: bool) -> _Opened:
        """`open_connection()` behind the circuit breaker `_connect` describes."""
        if not probe and time.monotonic() < self._down_until:
            raise StoreUnavailable()
        try:
            connection = open_connection()
        except (*_UNAVAILABLE, *_SQLITE_UNAVAILABLE) as exc:  # raw_connection does not wrap
            self._down_until = time.monotonic() + self._reconnect_after_s
            _log_unavailable(exc)
            raise StoreUnavailable() from exc
        self._down_until = 0.0
        return connection

    @contextmanager
    def _transaction(self, *, write: bool = False, probe: bool = False) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on any exception.

        Raises StoreUnavailable (from the driver error) when the database cannot be reached,
        is locked past the busy timeout, or refuses the write.
        """
        try:
            with self._connect(probe=probe) as connection:
                if write:
                    connection.execution_options(calf_cds_write=True)
                with connection.begin():
                    yield connection
        except _UNAVAILABLE as exc:
            _log_unavailable(exc)
            raise StoreUnavailable() from exc
        if write and self._checkpointer is not None:
            self._checkpointer.wrote()

    @contextmanager
    def _driver_write(self) -> Iterator[sqlite3.Connection]:
        """A SQLite write transaction on this thread's card-write connection, for the one
        write on every hook call (the issued cards): `_transaction`'s guarantees (breaker,
        write lock within the busy timeout, commit or rollback, StoreUnavailable) at a
        fraction of its cost, SQLAlchemy's connection and statement layers costing more than
        SQLite's own work here (bench/README.md, passes 5 and 7).
        """
        try:
            raw = self._card_writes.get(
                lambda: self._through_breaker(self._engine.raw_connection, probe=False)
            )
        except _SQLITE_UNAVAILABLE as exc:  # the new connection refused its busy timeout
            _log_unavailable(exc)
            raise StoreUnavailable() from exc
        try:
            _poll_write_lock(raw, self._busy_timeout_s, lambda: raw.execute("BEGIN IMMEDIATE"))
            try:
                yield raw
                raw.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    raw.execute("ROLLBACK")
                raise
        except _SQLITE_UNAVAILABLE as exc:
            self._card_writes.discard(raw)
            _log_unavailable(exc)
            raise StoreUnavailable() from exc
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _insert_ignoring_conflicts(self, table: sa.Table, *conflict_columns: str) -> Any:
        """INSERT ... ON CONFLICT (columns) DO NOTHING in the engine's dialect.

        The database, not a prior SELECT, decides what is a duplicate: that is what makes
        concurrent writers (workers, instances) store each row exactly once.
        """
        key = (table.name, conflict_columns)
        statement = self._inserts.get(key)
        if statement is None:  # built once: statements are immutable, `.values()` copies
            dialect = sqlite_dialect if self.dialect == "sqlite" else pg_dialect
            statement = dialect.insert(table).on_conflict_do_nothing(
                index_elements=list(conflict_columns)
            )
            self._inserts[key] = statement
        return statement

    # -- schema --

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to `revision` (idempotent; safe to run from several
        workers at once: PostgreSQL takes an advisory lock, SQLite a write lock)."""
        from alembic import command

        self._migrate(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Undo the migrations after `revision` (rolling a release back to its schema).

        Raises ValueError for a revision Alembic cannot go down to (unknown, or ahead).
        """
        from alembic import command
        from alembic.util import CommandError

        try:
            self._migrate(command.downgrade, revision)
        except CommandError as exc:
            raise ValueError(str(exc)) from exc

    def _migrate(self, step: Callable[[Any, str], None], revision: str) -> None:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", "cds:migrations")
        with self._transaction(write=True) as connection:
            if self.dialect == "postgresql":
                # An arbitrary constant naming "calf-cds migrations".
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
            config.attributes["connection"] = connection
            step(config, revision)
        # Connections made here must not be inherited by forked workers.
        self._engine.dispose()

    def current_revision(self) -> str | None:
        """The applied migration revision, None before the first `upgrade()`."""
        from alembic.runtime.migration import MigrationContext

        with self._transaction() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def ping(self) -> bool:
        """True when the database answers a trivial query now (readiness). Never raises."""
        try:
            with self._transaction(probe=True) as connection:
                connection.execute(sa.text("SELECT 1"))
        except StoreUnavailable:
            return False
        return True

    # -- patient hash --

    def patient_hash(self, patient_id: str) -> str:
        """HMAC-SHA-256 of the patient id under the install's salt, 32 hex characters. Never
        raises (it is on the clinical path, for logs and issued-card records).

        The salt is CDS_PATIENT_HASH_SALT, else the per-install salt read from the store once
        and cached. While that read is impossible (store down), a random per-process salt
        stands in: the hash still hides the id but matches only this process's other hashes.
        """
        key = self._salt
        if key is None:
            try:
                key = self._load_salt()
            except StoreUnavailable:
                log.warning("patient hash: store unavailable, using this process's own salt")
                key = self._fallback_salt
        # HMAC rather than sha256(salt + id): the keyed construction is the standard way to
        # salt a hash and has no length-extension or concatenation ambiguity.
        # surrogatepass: a JSON "\\ud800" escape yields a str with no UTF-8 form; it must still
        # hash (a strict encode raised here and turned the whole hook call into a 500).
        identity = patient_id.encode("utf-8", "surrogatepass")
        return hmac.new(key, identity, hashlib.sha256).hexdigest()[:32]

    def _load_salt(self) -> bytes:
        with self._transaction(write=True) as connection:
            # The first migration creates the salt; this covers a meta row deleted by hand.
            connection.execute(
                self._insert_ignoring_conflicts(META, "key").values(
                    key=SALT_KEY, value=secrets.token_hex(32)
                )
            )
            value: str = connection.execute(
                sa.select(META.c.value).where(META.c.key == SALT_KEY)
            ).scalar_one()
        self._salt = value.encode()
        return self._salt

    # -- issued cards --

    def record_issued(self, cards: Sequence[IssuedCard]) -> None:
        """Record cards as issued (a card uuid already recorded is left as it is).

        Raises StoreUnavailable within about a second when the database is down or locked;
        callers on the clinical path catch it and answer the cards anyway.
        """
        if not cards:
            return
        values = [_issued_values(card) for card in cards]
        if self.dialect == "sqlite":
            insert = self._sqlite_card_insert
            if insert is None:
                insert = self._sqlite_card_insert = _DriverInsert(
                    self._insert_ignoring_conflicts(ISSUED_CARDS, "card_uuid"), self._engine
                )
            try:
                rows = list(map(insert.row, values))
            except (TypeError, ValueError) as exc:  # as SQLAlchemy reports a bad bind value
                raise sa_exc.StatementError(str(exc), insert.sql, None, exc) from exc
            with self._driver_write() as raw:
                raw.executemany(insert.sql, rows)
            return
        with self._transaction(write=True) as connection:
            connection.execute(self._insert_ignoring_conflicts(ISSUED_CARDS, "card_uuid"), values)

    def issued_cards(self) -> list[IssuedCard]:
        """All recorded cards, oldest first (tests and tooling; not for hot paths)."""
        with self._transaction() as connection:
            result = connection.execute(sa.select(ISSUED_CARDS).order_by(ISSUED_CARDS.c.created_at))
            return [
                IssuedCard(
                    card_uuid=row.card_uuid,
                    suggestion_uuids=tuple(row.suggestion_uuids),
                    rule_id=row.rule_id,
                    rule_set_version=row.rule_set_version,
                    service_id=row.service_id,
                    hook_instance=row.hook_instance,
                    patient_hash=row.patient_hash,
                    indicator=row.indicator,
                    created_at=row.created_at,
                )
                for row in result
            ]

    # -- feedback --

    def record_feedback(
        self, entries: Sequence[FeedbackEntry], *, received_at: datetime | None = None
    ) -> FeedbackResult:
        """Store a feedback body in ONE transaction: every entry or none.

        Raises BadRequest naming `feedback[i]....` when an accepted suggestion is not one of
        its (known) card's suggestions; StoreUnavailable when the database is down. Entries for
        unknown cards are stored with matched=False.
        """
        received = received_at or _now()
        with self._transaction(write=True) as connection:
            known = self._suggestions_of(connection, {entry.card_uuid for entry in entries})
            for index, entry in enumerate(entries):
                _check_entry(index, entry, known.get(entry.card_uuid))
            insert = self._insert_ignoring_conflicts(
                FEEDBACK, "card_uuid", "outcome", "outcome_timestamp"
            )
            stored = duplicates = unmatched = 0
            for entry in entries:
                reason = entry.override_reason or OverrideReason()
                matched = entry.card_uuid in known
                result = connection.execute(
                    insert.values(
                        card_uuid=entry.card_uuid,
                        outcome=entry.outcome,
                        accepted_suggestions=list(entry.accepted_suggestions),
                        override_reason_system=storable_text(
                            reason.system, FEEDBACK.c.override_reason_system
                        ),
                        override_reason_code=storable_text(
                            reason.code, FEEDBACK.c.override_reason_code
                        ),
                        override_reason_display=storable_text(
                            reason.display, FEEDBACK.c.override_reason_display
                        ),
                        user_comment=storable_text(entry.user_comment),
                        outcome_timestamp=entry.outcome_timestamp,
                        received_at=received,
                        matched=matched,
                    )
                    # RETURNING, not rowcount: the row comes back only when it was inserted,
                    # on both dialects (rowcount is not reliable with psycopg's pipeline).
                    .returning(FEEDBACK.c.id)
                )
                if result.first() is not None:
                    stored += 1
                    unmatched += not matched
                else:
                    duplicates += 1
        return FeedbackResult(stored=stored, duplicates=duplicates, unmatched=unmatched)

    @staticmethod
    def _suggestions_of(connection: Connection, card_uuids: set[str]) -> dict[str, set[str]]:
        ordered = sorted(card_uuids)
        known: dict[str, set[str]] = {}
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start : start + _IN_CHUNK]
            rows = connection.execute(
                sa.select(ISSUED_CARDS.c.card_uuid, ISSUED_CARDS.c.suggestion_uuids).where(
                    ISSUED_CARDS.c.card_uuid.in_(chunk)
                )
            )
            known.update((row.card_uuid, set(row.suggestion_uuids)) for row in rows)
        return known

    def feedback_count(self) -> int:
        """Number of stored feedback rows (tests and tooling)."""
        with self._transaction() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(FEEDBACK)).scalar_one()
            )

    # -- jti --

    def claim_jti(
        self, issuer: str, jti: str, expires_at: datetime, *, now: datetime | None = None
    ) -> bool:
        """Record a JWT id as used until `expires_at`. False = already claimed (a replay).

        Atomic across processes and instances: the (issuer, jti) primary key decides. Expired
        records are purged on the way (a token past `exp` is refused before its jti matters).
        """
        current = now or _now()
        with self._transaction(write=True) as connection:
            connection.execute(sa.delete(JTI_RECORDS).where(JTI_RECORDS.c.expires_at < current))
            result = connection.execute(
                self._insert_ignoring_conflicts(JTI_RECORDS, "issuer", "jti")
                .values(issuer=issuer, jti=jti, expires_at=expires_at)
                .returning(JTI_RECORDS.c.jti)
            )
            return result.first() is not None

    # -- reporting --

    def report(self, since: datetime | None = None) -> RuleReport:
        """Per-rule counts for cards issued at or after `since` (all when None), and the count
        of unmatched feedback whose outcome timestamp is at or after `since`; one snapshot."""
        with self._transaction() as connection:
            rows = _rule_rows(connection, since)
            unmatched = _unmatched_count(connection, since)
        return RuleReport(rows=tuple(rows), unmatched_feedback=unmatched, since=since)

    def rule_report(self, since: datetime | None = None) -> list[RuleReportRow]:
        """The rows of `report(since)`, ordered by rule id (data-quality cards last)."""
        return list(self.report(since).rows)


def storable_text(text: str | None, column: sa.Column[Any] | None = None) -> str | None:
    """Text every database can store in `column`: lone surrogates (legal as JSON \\u escapes,
    e.g. an emoji cut in half by a client) and NUL (PostgreSQL text refuses it) become U+FFFD,
    and text longer than a VARCHAR column is cut to fit, ending in "…".

    Without this such a value was a 500 (PostgreSQL refuses over-long VARCHARs; SQLite does
    not) and the clinician's feedback was lost; now it is stored, the damage marked.
    """
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    limit = getattr(column.type, "length", None) if column is not None else None
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def _log_unavailable(exc: BaseException) -> None:
    # The driver's message may name hosts, users or paths; the class is enough for operators.
    cause = getattr(exc, "orig", None) or exc
    log.warning("store unavailable (%s)", type(cause).__name__)


def _check_entry(index: int, entry: FeedbackEntry, card_suggestions: set[str] | None) -> None:
    """Raise BadRequest for an entry the envelope schema cannot judge alone."""
    where = f"feedback[{index}]"
    if entry.outcome not in OUTCOMES:
        raise BadRequest(f"{where}.outcome: must be one of {', '.join(OUTCOMES)}")
    if entry.outcome_timestamp.tzinfo is None:
        raise BadRequest(f"{where}.outcomeTimestamp: needs a UTC offset")
    if entry.outcome == "accepted" and not entry.accepted_suggestions:
        raise BadRequest(f"{where}.acceptedSuggestions: required when the outcome is accepted")
    if card_suggestions is None:
        return  # unknown card: cannot judge its suggestions; stored unmatched
    for position, suggestion in enumerate(entry.accepted_suggestions):
        if suggestion not in card_suggestions:
            raise BadRequest(
                f"{where}.acceptedSuggestions[{position}].id: {suggestion!r} is not a "
                f"suggestion of card {entry.card_uuid}"
            )


def _rule_rows(connection: Connection, since: datetime | None) -> list[RuleReportRow]:
    issued, feedback = ISSUED_CARDS, FEEDBACK
    window = [issued.c.created_at >= since] if since is not None else []

    issued_counts: dict[str | None, int] = dict(
        connection.execute(
            sa.select(issued.c.rule_id, sa.func.count()).where(*window).group_by(issued.c.rule_id)
        ).all()  # a Result has .keys(), so dict() would read it as a mapping
    )
    joined = feedback.join(issued, feedback.c.card_uuid == issued.c.card_uuid)
    outcome_counts: dict[tuple[str | None, str], int] = {
        (row["rule_id"], row["outcome"]): int(row["cards"])
        for row in connection.execute(
            sa.select(
                issued.c.rule_id,
                feedback.c.outcome,
                sa.func.count(sa.distinct(feedback.c.card_uuid)).label("cards"),
            )
            .select_from(joined)
            .where(*window)
            .group_by(issued.c.rule_id, feedback.c.outcome)
        ).mappings()
    }
    reasons: dict[str | None, list[ReasonCount]] = defaultdict(list)
    for row in connection.execute(
        sa.select(
            issued.c.rule_id,
            feedback.c.override_reason_system.label("system"),
            feedback.c.override_reason_code.label("code"),
            sa.func.max(feedback.c.override_reason_display).label("display"),
            sa.func.count().label("entries"),
        )
        .select_from(joined)
        .where(feedback.c.outcome == "overridden", *window)
        .group_by(
            issued.c.rule_id,
            feedback.c.override_reason_system,
            feedback.c.override_reason_code,
        )
    ).mappings():
        reasons[row["rule_id"]].append(
            ReasonCount(row["system"], row["code"], row["display"], int(row["entries"]))
        )

    rows = []
    for rule_id in sorted(issued_counts, key=lambda r: (r is None, r or "")):
        accepted = int(outcome_counts.get((rule_id, "accepted"), 0))
        overridden = int(outcome_counts.get((rule_id, "overridden"), 0))
        answered = accepted + overridden
        top = sorted(reasons[rule_id], key=lambda r: (-r.count, r.code is None, r.code or ""))
        rows.append(
            RuleReportRow(
                rule_id=rule_id,
                issued=int(issued_counts[rule_id]),
                accepted=accepted,
                overridden=overridden,
                override_rate=round(overridden / answered, 4) if answered else None,
                top_override_reasons=tuple(top[:3]),
            )
        )
    return rows


def _unmatched_count(connection: Connection, since: datetime | None) -> int:
    # By join, not by the `matched` flag: the flag says whether the card was known when the
    # feedback arrived; the report says whether it is known now.
    feedback, issued = FEEDBACK, ISSUED_CARDS
    query = (
        sa.select(sa.func.count())
        .select_from(feedback.outerjoin(issued, feedback.c.card_uuid == issued.c.card_uuid))
        .where(issued.c.card_uuid.is_(None))
    )
    if since is not None:
        query = query.where(feedback.c.outcome_timestamp >= since)
    return int(connection.execute(query).scalar_one())


# SQLite copies its write-ahead log into the database file, with an fsync, on the commit that
# fills the log past `wal_autocheckpoint` pages: with SQLite's default of 1,000 pages that was
# 3-4 ms on about one card write in 80, the service's p99 (bench/README.md, pass 4). A thread
# per process checkpoints instead, 0.2 s after writes (small checkpoints: each one's fsync
# stalls a concurrent card write less); the autocheckpoint stays as the
# backstop for a log that thread cannot keep small (about 40 MB).
WAL_CHECKPOINT_DELAY_S = 0.2
WAL_AUTOCHECKPOINT_PAGES = 10_000
WAL_CHECKPOINTER_IDLE_S = 60.0  # the thread ends after this long without writes


class _WalCheckpointer:
    """Checkpoints a SQLite database's WAL off the request path, from a daemon thread that
    runs while there are writes (started again by the next write, also in a forked worker)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.reset()

    def reset(self) -> None:
        """Forget the thread and its primitives (in a forked child: the parent's thread is not
        there, and its locks may have been held at the fork)."""
        self._lock = threading.Lock()
        self._written = threading.Event()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        self._written.set()
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="calf-cds-wal-checkpoint", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        written = self._written
        while written.wait(timeout=WAL_CHECKPOINTER_IDLE_S):
            time.sleep(WAL_CHECKPOINT_DELAY_S)  # one checkpoint for the writes of the delay
            written.clear()
            self.checkpoint()

    def checkpoint(self) -> None:
        """PASSIVE: copies what it can without waiting for readers or writers."""
        try:
            connection = self._engine.raw_connection()
            try:
                connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except Exception as exc:  # retried after the next write; the autocheckpoint backs it up
            log.info("WAL checkpoint failed", extra={"error": type(exc).__name__})


def _forget_connections_after_fork(store: Store) -> None:
    """In a forked child, drop (without closing) the parent's pooled connections, and its WAL
    checkpoint thread.

    Closing them would close the parent's sockets; `dispose(close=False)` only forgets them
    (SQLAlchemy "Using Connection Pools with Multiprocessing"). A weak reference keeps the
    hook from keeping closed stores alive.
    """
    ref = weakref.ref(store)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive._engine.dispose(close=False)
            alive._card_writes.forget()
            if alive._checkpointer is not None:
                alive._checkpointer.reset()

    os.register_at_fork(after_in_child=_after_fork)
