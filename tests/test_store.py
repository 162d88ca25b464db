"""cds.store against both real databases: SQLite and the suite's PostgreSQL 15 (issue 4).

Every test taking `store` or `store_url` runs twice: `[sqlite]` and `[postgresql]`.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest_store import (
    T0,
    PostgresServer,
    accepted,
    dead_postgres_url,
    execute_sql,
    fill_filesystem,
    issued_card,
    mounted,
    overridden,
    query_sql,
    run_concurrent_writers,
)

from cds.errors import BadRequest, ConfigurationError, StoreUnavailable
from cds.store import (
    METADATA,
    FeedbackResult,
    IssuedCard,
    Store,
    normalise_url,
)

CDS = Path(__file__).resolve().parent.parent / "cds"


# --- schema ---


def test_migrations_create_the_schema(store_url: str) -> None:
    with Store.open(store_url) as fresh:
        assert fresh.current_revision() is None
        fresh.upgrade()
        assert fresh.current_revision() == "0002"
    engine = sa.create_engine(store_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"issued_cards", "feedback", "jti_records", "meta", "alembic_version"} <= tables


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    with Store.open(f"sqlite:///{path}") as store:
        store.upgrade()
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_sqlite_write_waits_for_another_writers_lock(tmp_path: Path) -> None:
    """SQLite's own busy handler: a card write that meets another process's write lock waits
    for it (up to the busy timeout) instead of failing."""
    url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    with Store.open(url) as store:
        store.upgrade()
        holder = sqlite3.connect(
            tmp_path / "busy.sqlite3", isolation_level=None, check_same_thread=False
        )
        try:
            holder.execute("BEGIN IMMEDIATE")
            releaser = threading.Timer(0.3, holder.execute, args=("COMMIT",))
            releaser.start()
            started = time.monotonic()
            store.record_issued([issued_card()])
            waited = time.monotonic() - started
            releaser.join()
        finally:
            holder.close()
        assert 0.2 < waited < 1.0
        assert len(store.issued_cards()) == 1


def test_upgrade_twice_changes_nothing(store: Store) -> None:
    store.upgrade()
    assert store.current_revision() == "0002"


def test_0002_keeps_the_issued_cards_and_drops_only_the_rule_index(store_url: str) -> None:
    """A store issued cards under 0001 keeps them through 0002, which drops one index; the
    per-rule report reads the same after it; the downgrade puts the index back."""
    cards = [issued_card(), issued_card(), dataclasses.replace(issued_card(), rule_id=None)]
    with Store.open(store_url) as store:
        store.upgrade("0001")
        store.record_issued(cards)
        report_before = store.report()
        assert _issued_card_indexes(store_url) == {
            "ix_issued_cards_created_at",
            "ix_issued_cards_rule_id_created_at",
        }
        store.upgrade()
        assert store.current_revision() == "0002"
        assert _issued_card_indexes(store_url) == {"ix_issued_cards_created_at"}
        assert {c.card_uuid for c in store.issued_cards()} == {c.card_uuid for c in cards}
        assert store.report().rows == report_before.rows
        store.downgrade("0001")
        assert _issued_card_indexes(store_url) == {
            "ix_issued_cards_created_at",
            "ix_issued_cards_rule_id_created_at",
        }


def _issued_card_indexes(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {index["name"] for index in sa.inspect(engine).get_indexes("issued_cards")}
    finally:
        engine.dispose()


def test_migrations_match_the_store_metadata(store: Store, store_url: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, METADATA)
    finally:
        engine.dispose()
    assert differences == []


def test_sqlalchemy_is_imported_by_the_store_package_only() -> None:
    importers = set()
    for path in CDS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(name.split(".")[0] in {"sqlalchemy", "alembic"} for name in names):
                importers.add(path.relative_to(CDS).as_posix())
    assert importers == {
        "store/engine.py",
        "store/guard.py",
        "store/report.py",
        "store/schema.py",
        "store/store.py",
        "store/migrations/env.py",
        "store/migrations/versions/0001_initial.py",
        "store/migrations/versions/0002_issued_cards_one_time_index.py",
    }


def test_the_records_are_built_without_importing_sqlalchemy() -> None:
    """The service builds IssuedCard and the HTTP layer FeedbackEntry without the database
    layer: `cds.store` loads SQLAlchemy only when `Store` (or a table) is first used."""
    script = (
        "import sys\n"
        "from cds.store import FeedbackEntry, IssuedCard, RuleReport\n"
        "import cds.http.feedback, cds.http.reports, cds.auth\n"
        "assert 'sqlalchemy' not in sys.modules, 'imported'\n"
        "from cds.store import Store\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- issued cards ---


def test_issued_cards_are_recorded(store: Store) -> None:
    cards = [
        issued_card(suggestions=("s-1", "s-2")),
        issued_card(rule_id=None, indicator="info"),
    ]

    store.record_issued(cards)
    store.record_issued(cards[:1])  # recording again changes nothing

    recorded = {card.card_uuid: card for card in store.issued_cards()}
    assert set(recorded) == {card.card_uuid for card in cards}
    first = recorded[cards[0].card_uuid]
    assert first.suggestion_uuids == ("s-1", "s-2")
    assert first.rule_id == "R-DVT-1"
    assert first.created_at == T0
    assert recorded[cards[1].card_uuid].rule_id is None


def test_card_timestamps_are_kept_as_the_same_instant_in_utc(store: Store, store_url: str) -> None:
    five_hours_east = T0.astimezone(timezone(timedelta(hours=5)))
    cards = [
        issued_card(suggestions=("s-1", "s-2"), created_at=five_hours_east),
        issued_card(rule_id=None, indicator="info"),  # T0: no microseconds
        issued_card(created_at=T0 + timedelta(microseconds=250)),
    ]
    store.record_issued(cards)

    recorded = {card.card_uuid: card.created_at for card in store.issued_cards()}
    assert recorded == {
        cards[0].card_uuid: T0,
        cards[1].card_uuid: T0,
        cards[2].card_uuid: T0 + timedelta(microseconds=250),
    }
    assert all(moment.utcoffset() == timedelta(0) for moment in recorded.values())
    # The report's window compares stored values: one instant, one spelling.
    assert sum(row.issued for row in store.report(since=T0).rows) == 3
    assert len(query_sql(store_url, "SELECT card_uuid FROM issued_cards")) == 3


REFUSED_CARDS = [
    pytest.param({"indicator": None}, id="null-in-a-not-null-column"),
    pytest.param({"created_at": datetime(2026, 11, 25, 12)}, id="naive-timestamp"),
]


@pytest.mark.parametrize("change", REFUSED_CARDS)
def test_a_card_batch_the_database_refuses_is_store_unavailable_and_leaves_nothing(
    store: Store, change: dict[str, object]
) -> None:
    """record_issued raises StoreUnavailable and nothing else (the hook path logs it and the
    cards still go out); nothing of the batch stays, and the store goes on working."""
    good = issued_card()
    bad = dataclasses.replace(issued_card(), **change)  # type: ignore[arg-type]

    with pytest.raises(StoreUnavailable):
        store.record_issued([good, bad])

    assert store.issued_cards() == []
    store.record_issued([good])
    assert [card.card_uuid for card in store.issued_cards()] == [good.card_uuid]


@pytest.mark.postgres
def test_a_value_postgresql_refuses_is_store_unavailable(postgres_url: str) -> None:
    """A value PostgreSQL refuses (longer than its column, a NUL) is StoreUnavailable, never
    the driver's DataError, which on the hook path would cost the cards."""
    with Store.open(postgres_url) as store:
        store.upgrade()
        hook_instance = "urn:uuid:" + "{" * 200 + str(uuid.uuid4()) + "}" * 13
        with pytest.raises(StoreUnavailable):
            store.record_issued([dataclasses.replace(issued_card(), hook_instance=hook_instance)])
        with pytest.raises(StoreUnavailable):
            store.record_issued([dataclasses.replace(issued_card(), rule_id="nul\x00")])
        assert store.issued_cards() == []


# --- feedback ---


def test_accepted_and_overridden_feedback_is_stored(store: Store) -> None:
    dvt = issued_card(suggestions=("s-1", "s-2"))
    other = issued_card(rule_id="R-ALI-1")
    store.record_issued([dvt, other])

    result = store.record_feedback(
        [accepted(dvt, "s-2"), overridden(other, "already-done", comment="seen this morning")]
    )

    assert result == FeedbackResult(stored=2, duplicates=0, unmatched=0)
    assert store.feedback_count() == 2


def test_accepted_suggestion_of_another_card_stores_nothing(store: Store) -> None:
    dvt = issued_card(suggestions=("s-1",))
    other = issued_card(suggestions=("s-9",))
    store.record_issued([dvt, other])

    with pytest.raises(BadRequest, match=r"feedback\[1\]\.acceptedSuggestions\[0\]\.id"):
        store.record_feedback([overridden(other), accepted(dvt, "s-9")])

    assert store.feedback_count() == 0


def test_duplicates_are_stored_once(store: Store) -> None:
    card = issued_card(suggestions=("s-1",))
    store.record_issued([card])
    same_instant_other_offset = T0.astimezone(timezone(timedelta(hours=2)))

    first = store.record_feedback([accepted(card), accepted(card)])
    second = store.record_feedback([accepted(card, at=same_instant_other_offset), overridden(card)])

    assert first == FeedbackResult(stored=1, duplicates=1)
    assert second == FeedbackResult(stored=1, duplicates=1)
    assert store.feedback_count() == 2


def test_unknown_card_is_stored_unmatched_and_reported_apart(store: Store) -> None:
    known = issued_card()
    store.record_issued([known])
    unknown = str(uuid.uuid4())

    result = store.record_feedback(
        [overridden(known), accepted(unknown, "a-suggestion-we-never-saw"), overridden(unknown)]
    )

    assert result == FeedbackResult(stored=3, duplicates=0, unmatched=2)
    report = store.report()
    assert report.unmatched_feedback == 2
    assert [(row.rule_id, row.overridden) for row in report.rows] == [("R-DVT-1", 1)]


def test_feedback_persists_across_a_restart(store_url: str) -> None:
    card = issued_card(suggestions=("s-1",))
    with Store.open(store_url) as first:
        first.upgrade()
        first.record_issued([card])
        first.record_feedback([accepted(card)])

    with Store.open(store_url) as second:
        second.upgrade()
        assert second.feedback_count() == 1
        assert second.record_feedback([accepted(card)]) == FeedbackResult(duplicates=1)
        assert [row.accepted for row in second.rule_report()] == [1]


CONCURRENT_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    from cds.store import Store, FeedbackEntry

    url, go, ready, card, first, last = sys.argv[1:7]
    t0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    entries = [
        FeedbackEntry(card, "overridden", t0 + timedelta(seconds=n))
        for n in range(int(first), int(last))
    ]
    store = Store.open(url)
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    totals = {"stored": 0, "duplicates": 0}
    for start in range(0, len(entries), 2):
        result = store.record_feedback(entries[start:start + 2])
        totals["stored"] += result.stored
        totals["duplicates"] += result.duplicates
    store.close()
    print(json.dumps(totals))
    """
)


def test_concurrent_feedback_from_two_processes_is_counted_exactly(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    card = issued_card()
    store.record_issued([card])
    # Process A sends timestamps 0..29, B 15..44: 15 entries overlap, 45 are distinct.
    totals = run_concurrent_writers(
        CONCURRENT_WRITER, store_url, card.card_uuid, [(0, 30), (15, 45)], tmp_path
    )

    assert sum(t["stored"] for t in totals) == 45
    assert sum(t["duplicates"] for t in totals) == 15
    assert store.feedback_count() == 45


# --- the database down ---


def test_opening_a_store_does_not_connect() -> None:
    with Store.open(dead_postgres_url()) as down:
        assert down.dialect == "postgresql"


@pytest.mark.postgres
def test_record_issued_fails_fast_when_postgresql_is_down() -> None:
    with Store.open(dead_postgres_url()) as down:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            down.record_issued([issued_card()])
        assert time.monotonic() - started < 3
        # The breaker answers at once until the reconnect delay has passed.
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            down.record_issued([issued_card()])
        assert time.monotonic() - started < 0.1
        assert down.ping() is False


def test_record_issued_fails_within_about_a_second_when_sqlite_is_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
    with Store.open(url) as store:
        store.upgrade()
        engine = sa.create_engine(url)
        try:
            with engine.connect() as holder:
                holder.exec_driver_sql("BEGIN EXCLUSIVE")
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    store.record_issued([issued_card()])
                assert time.monotonic() - started < 2
                holder.exec_driver_sql("ROLLBACK")
        finally:
            engine.dispose()
        # Contention is not an outage: the next call goes through at once.
        store.record_issued([issued_card()])
        assert len(store.issued_cards()) == 1


def test_card_writes_from_threads_a_forked_child_and_after_close_all_land(tmp_path: Path) -> None:
    """Threads share the pool; a forked worker forgets the parent's connections and opens its
    own; after `close()` the next write opens a new one."""
    with Store.open(f"sqlite:///{tmp_path / 'threads.sqlite3'}") as store:
        store.upgrade()
        first = issued_card()
        store.record_issued([first])  # this thread's connection now exists, before the fork
        per_thread = [[issued_card() for _ in range(20)] for _ in range(4)]

        def write(cards: list[IssuedCard]) -> None:
            for card in cards:
                store.record_issued([card])

        threads = [threading.Thread(target=write, args=(cards,)) for cards in per_thread]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        child_card = issued_card()
        pid = os.fork()
        if pid == 0:  # the child: a gunicorn worker forked from a process that wrote
            try:
                store.record_issued([child_card])
            finally:
                os._exit(0 if child_card.card_uuid in _stored_uuids(store) else 1)
        assert os.waitpid(pid, 0)[1] == 0
        store.close()
        last = issued_card()
        store.record_issued([last])

        expected = {first, child_card, last, *(card for cards in per_thread for card in cards)}
        assert _stored_uuids(store) == {card.card_uuid for card in expected}


def test_a_thread_per_request_leaves_no_connection_per_thread_open(tmp_path: Path) -> None:
    """`calf-cds serve --dev` (and any threaded WSGI server) runs each request on a new
    thread: a finished thread's connection goes back to the pool, none is kept per thread."""
    path = tmp_path / "per-thread.sqlite3"
    with Store.open(f"sqlite:///{path}") as store:
        store.upgrade()
        store.record_issued([issued_card()])
        opened = _files_open_on(path)
        for _ in range(20):
            thread = threading.Thread(target=store.record_issued, args=([issued_card()],))
            thread.start()
            thread.join()

        # Kept per thread, 20 would be open.
        assert _files_open_on(path) - opened <= 1
        assert len(store.issued_cards()) == 21


def _files_open_on(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


def _stored_uuids(store: Store) -> set[str]:
    return {card.card_uuid for card in store.issued_cards()}


def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}") as store:
        with pytest.raises(StoreUnavailable):
            store.record_issued([issued_card()])
        with pytest.raises(StoreUnavailable):
            store.record_feedback([overridden(str(uuid.uuid4()))])
        assert store.ping() is False


@pytest.mark.postgres
def test_after_a_failed_connection_calls_fail_fast_until_readiness_sees_the_store_back(
    postgres_server: PostgresServer,
) -> None:
    name = f"calf_later_{uuid.uuid4().hex[:12]}"
    url = postgres_server.url(name)
    with Store.open(url, reconnect_after_s=60) as store:
        with pytest.raises(StoreUnavailable):
            store.record_issued([issued_card()])  # no such database yet: the circuit opens
        with postgres_server.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with Store.open(url) as other:
                other.upgrade()

            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.record_issued([issued_card()])  # open: no attempt for 60 s
            assert time.monotonic() - started < 0.1
            assert store.ping() is True  # readiness always tries, and closes the circuit
            store.record_issued([issued_card()])
            assert len(store.issued_cards()) == 1
        finally:
            store.close()
            postgres_server.drop_database(name)


def test_a_sqlite_file_that_appears_is_used_at_once(tmp_path: Path) -> None:
    """Opening a file fails at once, so SQLite needs no circuit: a store whose file was
    missing takes the next call as soon as the file is there."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    with Store.open(url) as store:
        with pytest.raises(StoreUnavailable):
            store.record_issued([issued_card()])
        with Store.open(url) as other:
            other.upgrade()
        store.record_issued([issued_card()])
        assert len(store.issued_cards()) == 1


# --- readiness: the store takes a write, or ping() is False ---


def test_ping_is_false_until_the_tables_exist_and_false_again_when_one_is_dropped(
    store_url: str,
) -> None:
    with Store.open(store_url) as store:
        if store.dialect == "sqlite":
            Path(store_url.removeprefix("sqlite:///")).touch()  # a file without tables
        assert store.ping() is False
        store.upgrade()
        assert store.ping() is True
        execute_sql(store_url, "DROP TABLE feedback")
        assert store.ping() is False


@pytest.mark.postgres
def test_ping_is_false_while_postgresql_is_read_only(postgres_url: str) -> None:
    with Store.open(postgres_url) as store:
        store.upgrade()
        assert store.ping() is True
        name = sa.make_url(postgres_url).database
        execute_sql(postgres_url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        store.close()  # new sessions read the setting
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.record_feedback([overridden(str(uuid.uuid4()))])
        execute_sql(
            postgres_url,
            "SET default_transaction_read_only = off",
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = off',
        )
        store.close()
        assert store.ping() is True


def test_ping_is_false_while_the_sqlite_file_is_read_only(tmp_path: Path) -> None:
    source = tmp_path / "db"
    source.mkdir()
    with Store.open(f"sqlite:///{source / 'store.sqlite3'}") as writable:
        writable.upgrade()
    with (
        mounted("--bind", str(source)) as view,
        Store.open(f"sqlite:///{view / 'store.sqlite3'}") as store,
    ):
        assert store.ping() is True
        store.close()  # a mount with files open for writing cannot turn read-only
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.record_issued([issued_card()])


def test_ping_is_false_while_the_disk_is_full() -> None:
    with (
        mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs") as disk,
        Store.open(f"sqlite:///{disk / 'store.sqlite3'}") as store,
    ):
        store.upgrade()
        assert store.ping() is True
        filler = fill_filesystem(disk)
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.record_feedback([overridden(str(uuid.uuid4()))])
        filler.unlink()
        assert store.ping() is True
        assert store.feedback_count() == 0


# --- a SQLite file deleted or replaced under a running store ---


def test_nothing_written_after_the_sqlite_file_is_moved_away_is_acknowledged(
    tmp_path: Path,
) -> None:
    path, aside = tmp_path / "store.sqlite3", tmp_path / "aside.sqlite3"
    card = issued_card(suggestions=("s-1",))
    with Store.open(f"sqlite:///{path}") as store:
        store.upgrade()
        store.record_issued([card])
        assert store.record_feedback([accepted(card)]) == FeedbackResult(stored=1)

        path.rename(aside)  # as `rm` would, for the running store: no file at the path
        with pytest.raises(StoreUnavailable):
            store.record_feedback([overridden(card)])
        with pytest.raises(StoreUnavailable):
            store.record_issued([issued_card()])
        assert store.ping() is False
        assert not path.exists()  # a connection never creates the file

        aside.rename(path)
        assert store.ping() is True
        assert store.record_feedback([overridden(card, at=T0 + timedelta(1))]).stored == 1
    with Store.open(f"sqlite:///{path}") as restarted:
        assert restarted.feedback_count() == 2
        assert [c.card_uuid for c in restarted.issued_cards()] == [card.card_uuid]


def test_a_sqlite_file_replaced_by_one_that_is_no_database_takes_no_write(tmp_path: Path) -> None:
    path, stranger = tmp_path / "store.sqlite3", tmp_path / "notes.txt"
    stranger.write_text("not a database\n" * 100)
    with Store.open(f"sqlite:///{path}") as store:
        store.upgrade()
        assert store.ping() is True
        stranger.replace(path)
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.record_feedback([overridden(str(uuid.uuid4()))])
    assert path.read_text().startswith("not a database")


# --- jti ---


def test_a_jti_is_claimed_once(store: Store) -> None:
    expires = T0 + timedelta(minutes=5)

    assert store.claim_jti("https://ehr.example", "abc", expires, now=T0) is True
    assert store.claim_jti("https://ehr.example", "abc", expires, now=T0) is False
    assert store.claim_jti("https://other.example", "abc", expires, now=T0) is True


def test_expired_jti_records_are_purged(store: Store) -> None:
    store.claim_jti("iss", "old", T0 + timedelta(minutes=5), now=T0)

    later = T0 + timedelta(minutes=6)
    assert store.claim_jti("iss", "new", later + timedelta(minutes=5), now=later) is True
    assert store.claim_jti("iss", "old", later + timedelta(minutes=5), now=later) is True


# --- patient hash ---


def test_patient_hash_is_shared_by_every_store_on_the_database(
    store: Store, store_url: str
) -> None:
    with Store.open(store_url) as other_worker:
        assert other_worker.patient_hash("123") == store.patient_hash("123")
    assert store.patient_hash("123") != store.patient_hash("124")
    assert len(store.patient_hash("123")) == 32
    # An id with letters no hex digest holds: this cannot pass or fail by chance.
    assert "patient-123" not in store.patient_hash("patient-123")


def test_configured_salt_is_used_and_needs_no_database() -> None:
    with (
        Store.open(dead_postgres_url(), patient_hash_salt="pepper") as down,
        Store.open(dead_postgres_url(), patient_hash_salt="pepper") as twin,
    ):
        assert down.patient_hash("123") == twin.patient_hash("123")


def test_patient_hash_never_raises_while_the_store_is_down() -> None:
    with Store.open(dead_postgres_url()) as down:
        assert len(down.patient_hash("123")) == 32


# --- report ---


def test_report_counts_rates_and_top_reasons(store: Store) -> None:
    dvt = [issued_card(rule_id="R-DVT-1", suggestions=(f"s-{n}",)) for n in range(5)]
    ali = [issued_card(rule_id="R-ALI-1") for _ in range(2)]
    quality = issued_card(rule_id=None, indicator="info")
    store.record_issued([*dvt, *ali, quality])
    store.record_feedback(
        [
            accepted(dvt[0]),
            overridden(dvt[1], "not-applicable"),
            overridden(dvt[2], "not-applicable"),
            overridden(dvt[3], "already-done"),
            overridden(dvt[3], "already-done", at=T0 + timedelta(minutes=1)),  # same card again
            overridden(dvt[4], None, comment="no coded reason"),
        ]
    )

    rows = {row.rule_id: row for row in store.rule_report()}

    assert list(rows) == ["R-ALI-1", "R-DVT-1", None]
    row = rows["R-DVT-1"]
    assert (row.issued, row.accepted, row.overridden) == (5, 1, 4)
    assert row.override_rate == 0.8
    assert [(r.code, r.count) for r in row.top_override_reasons] == [
        ("not-applicable", 2),
        ("already-done", 1),  # one card, overridden twice: counted once, as in `overridden`
        (None, 1),
    ]
    assert rows["R-ALI-1"].override_rate is None
    assert (rows[None].issued, rows[None].accepted) == (1, 0)


def test_report_since_counts_cards_issued_from_that_moment(store: Store) -> None:
    old = issued_card(created_at=T0 - timedelta(days=10))
    new = issued_card(created_at=T0)
    store.record_issued([old, new])
    store.record_feedback(
        [
            overridden(old, at=T0),
            overridden(new),
            overridden(str(uuid.uuid4()), at=T0 - timedelta(days=5)),
            overridden(str(uuid.uuid4()), at=T0),
        ]
    )

    everything = store.report()
    recent = store.report(since=T0 - timedelta(days=1))

    assert [(r.issued, r.overridden) for r in everything.rows] == [(2, 2)]
    assert everything.unmatched_feedback == 2
    assert [(r.issued, r.overridden) for r in recent.rows] == [(1, 1)]
    assert recent.unmatched_feedback == 1


# --- URLs ---


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        pytest.param("postgres://u:p@db/calf", "postgresql+psycopg", id="postgres-scheme"),
        pytest.param("postgresql://u@db/calf", "postgresql+psycopg", id="postgresql-scheme"),
        pytest.param("postgresql+psycopg://u@db/calf", "postgresql+psycopg", id="psycopg"),
        pytest.param("sqlite:///calf-cds.sqlite3", "sqlite", id="sqlite"),
    ],
)
def test_database_urls_are_normalised_to_psycopg(raw: str, driver: str) -> None:
    assert normalise_url(raw).drivername == driver


@pytest.mark.parametrize("raw", ["mysql://u@db/calf", "not a url"])
def test_unsupported_database_url_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="CDS_DATABASE_URL"):
        normalise_url(raw)


def test_store_url_hides_the_password() -> None:
    with Store.open("postgresql+psycopg://calf:secret@127.0.0.1:1/calf") as store:
        assert "secret" not in store.url


def test_naive_datetimes_are_refused(store: Store) -> None:
    card = issued_card(created_at=datetime(2026, 11, 25, 12))  # no offset
    with pytest.raises(StoreUnavailable) as refused:
        store.record_issued([card])
    assert isinstance(refused.value.__cause__, sa.exc.StatementError)
    assert store.issued_cards() == []


# --- the suite's PostgreSQL fixture ---


def test_missing_postgresql_binaries_fail_loudly_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import conftest_store

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(conftest_store, "PG_BIN_DIRS", (tmp_path,))

    with pytest.raises(pytest.fail.Exception, match="apt-get install postgresql-15"):
        conftest_store.find_pg_bin()
