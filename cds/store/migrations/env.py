"""Alembic environment: migrate the connection `Store.upgrade()` hands over.

Without one (the `alembic` command line with an ini file), connects to `sqlalchemy.url` or
`CDS_DATABASE_URL`. `target_metadata` is the store's METADATA so autogenerate and the drift
test compare against it.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from cds.store.schema import METADATA
from cds.store.store import Store

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for later revisions.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "CDS_DATABASE_URL", "sqlite:///calf-cds.sqlite3"
    )
    with Store.open(url) as store:
        store.upgrade()


if context.is_offline_mode():
    raise SystemExit("calf-cds migrations run online only (calf-cds db upgrade)")
run_migrations_online()
