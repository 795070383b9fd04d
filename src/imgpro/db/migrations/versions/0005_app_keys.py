"""app keys: API keys of an app (App storage only or App-wide) and each app's own workspace

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 05:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_id", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("access", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_app_id"), ["app_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_app_id_apps"), "apps", ["app_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index(
        "uq_workspaces_app_storage",
        "workspaces",
        ["app_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'app_storage'"),
        postgresql_where=sa.text("kind = 'app_storage'"),
    )


def downgrade() -> None:
    op.drop_index("uq_workspaces_app_storage", table_name="workspaces")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_app_id_apps"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_keys_app_id"))
        batch_op.drop_column("access")
        batch_op.drop_column("app_id")
