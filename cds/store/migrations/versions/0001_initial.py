"""The store's first schema: issued cards, feedback, jti records, meta (with the install salt).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "issued_cards",
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("suggestion_uuids", sa.JSON(), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=True),
        sa.Column("rule_set_version", sa.String(32), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook_instance", sa.String(128), nullable=True),
        sa.Column("patient_hash", sa.String(64), nullable=True),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("card_uuid", name="pk_issued_cards"),
    )
    op.create_index("ix_issued_cards_rule_id_created_at", "issued_cards", ["rule_id", "created_at"])
    op.create_index("ix_issued_cards_created_at", "issued_cards", ["created_at"])

    op.create_table(
        "feedback",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason_system", sa.String(512), nullable=True),
        sa.Column("override_reason_code", sa.String(128), nullable=True),
        sa.Column("override_reason_display", sa.String(512), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_timestamp", _when(), nullable=False),
        sa.Column("received_at", _when(), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint(
            "card_uuid",
            "outcome",
            "outcome_timestamp",
            name="uq_feedback_card_uuid_outcome_outcome_timestamp",
        ),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_feedback_outcome"),
    )

    op.create_table(
        "jti_records",
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name="pk_jti_records"),
    )
    op.create_index("ix_jti_records_expires_at", "jti_records", ["expires_at"])

    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    # One random salt per install, so every worker and instance hashes patient ids alike when
    # CDS_PATIENT_HASH_SALT is not set.
    op.bulk_insert(meta, [{"key": "patient_hash_salt", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_index("ix_jti_records_expires_at", table_name="jti_records")
    op.drop_table("jti_records")
    op.drop_table("feedback")
    op.drop_index("ix_issued_cards_created_at", table_name="issued_cards")
    op.drop_index("ix_issued_cards_rule_id_created_at", table_name="issued_cards")
    op.drop_table("issued_cards")
