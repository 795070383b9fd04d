"""images: placeholder (ThumbHash and dominant colour, decisions.md §8)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL until computed: images stored before get theirs from `imgpro admin backfill`
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("placeholder", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("placeholder")
