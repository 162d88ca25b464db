"""issued_cards: drop the (rule_id, created_at) index; the created_at index serves the reports.

Every hook call writes its cards, and each index is a b-tree a commit rewrites pages of: with
the card uuids now time-ordered (version 7) and this index gone, a card write appends to ~6
pages of the write-ahead log instead of ~17. Its one reader, the
per-rule report (`Store.report`), filters by created_at and groups by rule_id: the created_at
index and the matching rows answer that, a report being run by hand, not on every request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_issued_cards_rule_id_created_at", table_name="issued_cards")


def downgrade() -> None:
    op.create_index("ix_issued_cards_rule_id_created_at", "issued_cards", ["rule_id", "created_at"])
