"""Store fixtures: a real PostgreSQL 15 server started by the suite, and both databases.

`postgres_server` (session) runs the machine's PostgreSQL binaries (`initdb`, `pg_ctl`) in a
fresh temporary directory, as the `postgres` user when the tests run as root, listening only on
127.0.0.1 at a free port with its unix socket inside that directory; it is stopped with
`pg_ctl stop -m fast` at the end of the session. Missing binaries FAIL the tests that need
them with an install hint; they are never skipped (issue 4: CI must run the PostgreSQL tests).

`store_url` is parametrised `sqlite` / `postgresql` (the latter marked `postgres`); each test
gets its own SQLite file or its own PostgreSQL database, so tests never see each other's rows.
Registered from tests/conftest.py through `pytest_plugins`.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from cds import create_app
from cds.store import FeedbackEntry, IssuedCard, OverrideReason, Store

PG_MAJOR = 15
PG_BIN_DIRS = (Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"),)
INSTALL_HINT = (
    f"PostgreSQL {PG_MAJOR} server binaries (initdb, pg_ctl) are required by the store tests; "
    f"install them with: sudo apt-get install postgresql-{PG_MAJOR} "
    "(or run scripts/test-prerequisites.sh)"
)
STORE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
# The golden clock of tests/conftest.py (fhir_samples are dated around it).
SAMPLE_CLOCK = "2026-11-25T12:00:00Z"


def find_pg_bin() -> Path:
    """The directory holding initdb and pg_ctl of PostgreSQL 15 (PATH first, then Debian's)."""
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates.extend(PG_BIN_DIRS)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    pytest.fail(INSTALL_HINT, pytrace=False)


@dataclass
class PostgresServer:
    """A running throwaway cluster; `url(db)` names a database in it (psycopg 3 driver)."""

    bin_dir: Path
    base: Path
    data: Path
    socket_dir: Path
    port: int
    run_as: str | None  # the OS user running the server (None: this process's user)
    host: str = "127.0.0.1"
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        name = f"calf_{uuid.uuid4().hex[:16]}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run_pg(
            self.bin_dir / "pg_ctl", *args, run_as=self.run_as, cwd=self.base, check=check
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", check=False)


def _run_pg(
    program: Path, *args: str, run_as: str | None, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [str(program), *args]
    if run_as is not None:
        # initdb and postgres refuse to run as root.
        command = ["runuser", "-u", run_as, "--", *command]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start in a new temporary directory; raise (with the log) on failure."""
    bin_dir = find_pg_bin()
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            account = pwd.getpwnam(run_as)
        except KeyError:
            pytest.fail(
                "the tests run as root but there is no `postgres` user to run the server; "
                + INSTALL_HINT,
                pytrace=False,
            )
    base = Path(tempfile.mkdtemp(prefix="calf-cds-pg-"))
    data, socket_dir = base / "data", base / "socket"
    socket_dir.mkdir()
    if run_as is not None:
        for path in (base, socket_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
    _run_pg(
        bin_dir / "initdb",
        "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
        "--no-sync",
        run_as=run_as, cwd=base,
    )  # fmt: skip
    log = base / "postgres.log"
    last_error = ""
    for _attempt in range(5):  # another suite may take the free port between probe and bind
        server = PostgresServer(bin_dir, base, data, socket_dir, _free_port(), run_as)
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {socket_dir} "
            # A throwaway cluster: durability buys nothing, speed does.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=60 -c shared_buffers=16MB"
        )
        result = server.pg_ctl(
            "start", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, check=False
        )
        if result.returncode == 0:
            return server
        last_error = log.read_text(errors="replace") if log.exists() else result.stderr
        server.stop()
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start:\n{last_error[-4000:]}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 server for the whole session, stopped and removed afterwards."""
    server = start_postgres()
    # Belt and braces: an interpreter exit that skips fixture teardown still stops the server.
    atexit.register(server.stop)
    try:
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database of the session's server, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on `store_url`; its connections are closed after the test."""
    opened = Store.open(store_url, patient_hash_salt="")
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


def make_store_app(url: str, **overrides: Any) -> Flask:
    """The real app on `url` (auth off, the golden clock), migrated."""
    application = create_app(
        {"database_url": url, "auth_mode": "off", "evaluation_time": SAMPLE_CLOCK, **overrides}
    )
    application.extensions["calf-cds"].store.upgrade()
    return application


def close_store_app(application: Flask) -> None:
    application.extensions["calf-cds"].store.close()


@pytest.fixture
def store_app(store_url: str) -> Iterator[Flask]:
    application = make_store_app(store_url)
    try:
        yield application
    finally:
        close_store_app(application)


@pytest.fixture
def store_client(store_app: Flask) -> Any:
    return store_app.test_client()


# --- record factories shared by the store tests ---

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def issued_card(
    card_uuid: str | None = None,
    *,
    rule_id: str | None = "R-DVT-1",
    suggestions: tuple[str, ...] = (),
    created_at: datetime = T0,
    indicator: str = "warning",
) -> IssuedCard:
    return IssuedCard(
        card_uuid=card_uuid or str(uuid.uuid4()),
        suggestion_uuids=suggestions,
        rule_id=rule_id,
        rule_set_version="2026.1",
        service_id="calf-pain-triage",
        hook_instance=str(uuid.uuid4()),
        patient_hash="0" * 32,
        indicator=indicator,
        created_at=created_at,
    )


def accepted(card: IssuedCard | str, *suggestions: str, at: datetime = T0) -> FeedbackEntry:
    card_uuid = card if isinstance(card, str) else card.card_uuid
    chosen = suggestions or (() if isinstance(card, str) else tuple(card.suggestion_uuids[:1]))
    return FeedbackEntry(card_uuid, "accepted", at, accepted_suggestions=chosen)


def overridden(
    card: IssuedCard | str,
    code: str | None = "not-applicable",
    *,
    at: datetime = T0,
    display: str | None = None,
    comment: str | None = None,
) -> FeedbackEntry:
    card_uuid = card if isinstance(card, str) else card.card_uuid
    reason = OverrideReason(OVERRIDE_SYSTEM, code, display or code) if code else None
    return FeedbackEntry(card_uuid, "overridden", at, override_reason=reason, user_comment=comment)


OVERRIDE_SYSTEM = "http://calf-cds.example/fhir/CodeSystem/override-reason"


def execute_sql(url: str, *statements: str) -> None:
    """Run SQL on `url` beside the store, as an operator or another program would."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def query_sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """The rows of one query on `url`, read beside the store."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(statement)]
    finally:
        engine.dispose()


@contextmanager
def mounted(*mount_args: str) -> Iterator[Path]:
    """A fresh directory with `mount *mount_args <it>` on it, unmounted afterwards (root only:
    the tests run as root in CI; elsewhere these few tests are skipped)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    target = Path(tempfile.mkdtemp(prefix="calf-cds-mount-"))
    subprocess.run(["mount", *mount_args, str(target)], check=True, capture_output=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)
        shutil.rmtree(target, ignore_errors=True)


def fill_filesystem(directory: Path) -> Path:
    """Write a file in `directory` until its filesystem is full; the file's path."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as sink:
        try:
            while True:
                sink.write(chunk)
        except OSError:  # ENOSPC
            pass
    with filler.open("ab", buffering=0) as sink:  # the last partial block too
        try:
            while True:
                sink.write(b"\0")
        except OSError:
            pass
    return filler


def dead_postgres_url() -> str:
    """A PostgreSQL URL where nothing listens: what a database that is down looks like."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/calf"


def run_concurrent_writers(
    script: str, url: str, card_uuid: str, ranges: list[tuple[int, int]], workdir: Path
) -> list[dict[str, int]]:
    """Run `script` in one Python process per range, released together once all are set up.

    The script gets argv `url go ready card first last`: it touches `ready`, waits for `go`,
    writes timestamps first..last-1, and prints its JSON totals as its last stdout line.
    """
    go = workdir / "go"
    readies = [workdir / f"ready-{first}" for first, _ in ranges]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(go), str(ready), card_uuid, str(a), str(b)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready, (a, b) in zip(readies, ranges, strict=True)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(ready.exists() for ready in readies):
            if time.monotonic() > deadline or any(w.poll() is not None for w in writers):
                break
            time.sleep(0.01)
        go.touch()
        outputs = [writer.communicate(timeout=180) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    assert [writer.returncode for writer in writers] == [0] * len(writers), outputs
    return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
