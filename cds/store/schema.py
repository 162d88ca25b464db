"""The store's tables as SQLAlchemy Core metadata, mirroring cds/store/migrations.

The Alembic migrations own the schema; a test checks that these tables and the migrated
database agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from .records import MAX_ISSUER_LENGTH, MAX_JTI_LENGTH


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
    # The envelope admits a 36-character UUID only; the column is wider for older rows.
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
    sa.Column("issuer", sa.String(MAX_ISSUER_LENGTH), primary_key=True),
    sa.Column("jti", sa.String(MAX_JTI_LENGTH), primary_key=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Index(None, "expires_at"),
)

# Key/value rows: the per-install patient-hash salt, and the readiness probe's heartbeat.
META = sa.Table(
    "meta",
    METADATA,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)
