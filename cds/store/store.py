"""The Store: issued cards, clinician feedback, JWT jti records and the patient-hash salt.

SQLite (the default, a file in the working directory) or PostgreSQL via psycopg 3, chosen by
`CDS_DATABASE_URL`. Every read and write is SQLAlchemy Core in one transaction. Whatever fails
below surfaces as `errors.StoreUnavailable` (cds/store/guard.py) and fails fast, so clinical
answers never wait on the store (cds-hooks.md "Feedback", "Security").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pybreaker
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from ..core.i18n import N_
from ..errors import BadRequest, StoreUnavailable
from . import report as report_queries
from .engine import SQLITE_BUSY_TIMEOUT_S, SqliteFile, create_engine, normalise_url
from .guard import RECONNECT_AFTER_S, failures_as_unavailable, log, new_breaker
from .records import (
    OUTCOMES,
    FeedbackEntry,
    FeedbackResult,
    IssuedCard,
    OverrideReason,
    RuleReport,
    RuleReportRow,
    storable_text,
)
from .schema import FEEDBACK, ISSUED_CARDS, JTI_RECORDS, META

if TYPE_CHECKING:
    from ..config import Settings

# Meta key of the per-install patient-hash salt, created by the first migration so that every
# worker and every instance sharing the database hashes a patient id the same way.
SALT_KEY = "patient_hash_salt"
# Meta key the readiness probe writes: proof that the store takes a write now.
PROBE_KEY = "readiness_probe"
# SQLite caps bound parameters per statement; look cards up in chunks well below any limit.
_IN_CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Issued cards, feedback, jti records and the patient-hash salt, in one database.

    Thread-safe (one engine, pooled connections) and fork-safe (a forked child forgets the
    parent's pooled connections). Close with `close()`, or use it as a context manager.
    """

    def __init__(
        self, engine: Engine, *, breaker: pybreaker.CircuitBreaker, patient_hash_salt: str = ""
    ) -> None:
        self._engine = engine
        self._breaker = breaker
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._file = SqliteFile.of(engine.url)
        self._file_identity: tuple[int, int] | None = None
        self._salt: bytes | None = patient_hash_salt.encode() if patient_hash_salt else None
        self._fallback_salt = secrets.token_bytes(32)
        self._inserts: dict[tuple[str, tuple[str, ...]], Any] = {}

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
        """A store for `url` (see `normalise_url`); connects on first use, so the app starts
        with the database down. The salt is `patient_hash_salt`, else the settings', else the
        per-install one in `meta`. After a failed PostgreSQL connect, calls fail at once for
        `reconnect_after_s`."""
        if patient_hash_salt is None:
            patient_hash_salt = settings.patient_hash_salt if settings is not None else ""
        breaker = new_breaker(reconnect_after_s)
        engine = create_engine(normalise_url(url), breaker=breaker, busy_timeout_s=busy_timeout_s)
        return cls(engine, breaker=breaker, patient_hash_salt=patient_hash_salt)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with any password masked (safe to log)."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def sqlite_file(self) -> Path | None:
        """A SQLite store's file, resolved (a relative URL follows the working directory);
        None for PostgreSQL or an in-memory SQLite."""
        database = self._engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database).resolve()

    def close(self) -> None:
        """Close pooled connections. The store can still be used afterwards (it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing --

    @contextmanager
    def _transaction(
        self, *, write: bool = False, always_try: bool = False
    ) -> Iterator[Connection]:
        """One transaction, committed when the block ends; StoreUnavailable for any failure,
        and (SQLite) when the file written is not the one at the path: nothing lost is ever
        acknowledged. `always_try` (readiness, migrations) closes an open circuit first."""
        with failures_as_unavailable(self._driver_error):
            if always_try and self._breaker.current_state != pybreaker.STATE_CLOSED:
                self._breaker.close()
            with self._engine.connect() as connection:
                if self._file is not None:
                    self._check_file(connection)
                with connection.begin():
                    if self.dialect == "sqlite" and not write:
                        connection.exec_driver_sql("BEGIN")  # one snapshot for every read
                    yield connection
                if write and self._file is not None:
                    self._check_file(connection)  # committed to the file a restart reads?

    def _check_file(self, connection: Connection) -> None:
        """StoreUnavailable unless `connection` is on the file this store first opened and that
        file is at the path. Never another file (a restart opens that): the write-ahead log at
        the path's name holds the first file's pages, and SQLite would read them as the new
        file's. A file moved away and back is used again."""
        assert self._file is not None
        opened = self._file.opened_by(connection)
        if self._file_identity is None:
            self._file_identity = opened  # the first file this store opened
        if opened is not None and opened == self._file_identity == self._file.identity():
            return
        try:
            if opened == self._file_identity:  # copy the log into its file, and empty it
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.invalidate()
            self._engine.dispose()
        log.warning(
            "store unavailable: the SQLite file at the configured path was deleted or replaced;"
            " nothing is written until it is back or calf-cds restarts"
        )
        raise StoreUnavailable()

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
        workers at once: PostgreSQL takes an advisory lock, SQLite a write lock). Creates the
        SQLite file, which nothing else does."""
        from alembic import command

        if self._file is not None:  # an empty file is an empty SQLite database
            with failures_as_unavailable(self._driver_error):
                Path(self._file.path).touch(exist_ok=True)
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
        config.set_main_option("script_location", "cds.store:migrations")
        with self._transaction(write=True, always_try=True) as connection:
            # One migration at a time, all or nothing, also from several workers at once
            # (4242001: an arbitrary constant naming "calf-cds migrations").
            lock = (
                "BEGIN IMMEDIATE"
                if self.dialect == "sqlite"
                else "SELECT pg_advisory_xact_lock(4242001)"
            )
            connection.exec_driver_sql(lock)
            config.attributes["connection"] = connection
            step(config, revision)
        # Connections made here must not be inherited by forked workers.
        self._engine.dispose()

    def current_revision(self) -> str | None:
        """The applied migration revision, None before the first `upgrade()`."""
        from alembic.runtime.migration import MigrationContext

        if self._file is not None and self._file.identity() is None:
            return None  # no database file yet (`upgrade()` creates it)

        with self._transaction(always_try=True) as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def ping(self) -> bool:
        """True when the store takes a write now (readiness). Never raises.

        Commits a one-row heartbeat in `meta` and reads every other table, so a database
        that is down, read-only, full, without its tables, or (SQLite) whose file was deleted
        or replaced answers False.
        """
        insert = (sqlite_dialect if self.dialect == "sqlite" else pg_dialect).insert(META)
        heartbeat = insert.values(key=PROBE_KEY, value=_now().isoformat()).on_conflict_do_update(
            index_elements=["key"], set_={"value": insert.excluded.value}
        )
        try:
            with self._transaction(write=True, always_try=True) as connection:
                connection.execute(heartbeat)
                for table in (ISSUED_CARDS, FEEDBACK, JTI_RECORDS):
                    connection.execute(sa.select(sa.literal(1)).select_from(table).limit(0))
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
        # surrogatepass: a JSON "\\ud800" escape yields a str with no UTF-8 form; it must
        # still hash, not turn the hook call into a 500.
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

        Raises StoreUnavailable, and only that, when the batch cannot be stored: the database
        down or locked past the busy timeout, or a value it refuses (logged as such). Nothing
        of the batch is kept then. The clinical path logs it and answers the cards anyway.
        """
        if not cards:
            return
        with self._transaction(write=True) as connection:
            connection.execute(
                self._insert_ignoring_conflicts(ISSUED_CARDS, "card_uuid"),
                [_issued_values(card) for card in cards],
            )

    def issued_cards(self) -> list[IssuedCard]:
        """All recorded cards, oldest first (tests and tooling; not for hot paths)."""
        with self._transaction() as connection:
            rows = connection.execute(sa.select(ISSUED_CARDS).order_by(ISSUED_CARDS.c.created_at))
            return [
                IssuedCard(**{**row._mapping, "suggestion_uuids": tuple(row.suggestion_uuids)})
                for row in rows
            ]

    # -- feedback --

    def record_feedback(
        self, entries: Sequence[FeedbackEntry], *, received_at: datetime | None = None
    ) -> FeedbackResult:
        """Store a feedback body in ONE transaction: every entry or none.

        Raises BadRequest naming `feedback[i]....` when an accepted suggestion is not one of
        its (known) card's suggestions; StoreUnavailable when the store cannot take it.
        Entries for unknown cards are stored with matched=False.
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
                matched = entry.card_uuid in known
                result = connection.execute(
                    insert.values(_feedback_values(entry, received, matched))
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
        Raises StoreUnavailable when the store cannot take the record.
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
            rows = report_queries.rule_rows(connection, since)
            unmatched = report_queries.unmatched_count(connection, since)
        return RuleReport(rows=tuple(rows), unmatched_feedback=unmatched, since=since)

    def rule_report(self, since: datetime | None = None) -> list[RuleReportRow]:
        """The rows of `report(since)`, ordered by rule id (data-quality cards last)."""
        return list(self.report(since).rows)


def _issued_values(card: IssuedCard) -> dict[str, Any]:
    values = dict(vars(card), suggestion_uuids=list(card.suggestion_uuids))
    values["patient_hash"] = card.patient_hash or None
    return values


def _feedback_values(entry: FeedbackEntry, received: datetime, matched: bool) -> dict[str, Any]:
    reason = entry.override_reason or OverrideReason()
    columns = FEEDBACK.c
    return {
        "card_uuid": entry.card_uuid,
        "outcome": entry.outcome,
        "accepted_suggestions": list(entry.accepted_suggestions),
        "override_reason_system": _fit(reason.system, columns.override_reason_system),
        "override_reason_code": _fit(reason.code, columns.override_reason_code),
        "override_reason_display": _fit(reason.display, columns.override_reason_display),
        "user_comment": _fit(entry.user_comment, columns.user_comment),
        "outcome_timestamp": entry.outcome_timestamp,
        "received_at": received,
        "matched": matched,
    }


def _fit(text: str | None, column: sa.Column[Any]) -> str | None:
    return storable_text(text, getattr(column.type, "length", None))


def _check_entry(index: int, entry: FeedbackEntry, card_suggestions: set[str] | None) -> None:
    """Raise BadRequest for an entry the envelope schema cannot judge alone."""
    where = f"feedback[{index}]"
    if entry.outcome not in OUTCOMES:
        raise BadRequest(
            N_("{where}: must be one of {outcomes}"),
            where=f"{where}.outcome",
            outcomes=", ".join(OUTCOMES),
        )
    if entry.outcome_timestamp.tzinfo is None:
        raise BadRequest(N_("{where}: needs a UTC offset"), where=f"{where}.outcomeTimestamp")
    if entry.outcome == "accepted" and not entry.accepted_suggestions:
        raise BadRequest(
            N_("{where}: required when the outcome is accepted"),
            where=f"{where}.acceptedSuggestions",
        )
    if card_suggestions is None:
        return  # unknown card: cannot judge its suggestions; stored unmatched
    for position, suggestion in enumerate(entry.accepted_suggestions):
        if suggestion not in card_suggestions:
            raise BadRequest(
                N_("{where}: {suggestion} is not a suggestion of card {card}"),
                where=f"{where}.acceptedSuggestions[{position}].id",
                suggestion=repr(suggestion),
                card=entry.card_uuid,
            )
