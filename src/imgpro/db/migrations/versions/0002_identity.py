"""identity: apps, connections, connect codes, sign-in codes, web sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:36:37.215882
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import imgpro.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_codes",
        sa.Column("id", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_codes")),
    )
    with op.batch_alter_table("sign_in_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_codes_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sign_in_codes_email"), ["email"], unique=False)

    op.create_table(
        "apps",
        sa.Column("id", sa.String(length=8), nullable=False),
        sa.Column("owner_id", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_hint", sa.String(length=32), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_apps_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_apps_secret_hash")),
    )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apps_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=8), nullable=False),
        sa.Column("created_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "connect_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=8), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("expires_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_connect_codes_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_connect_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_connect_codes")),
    )
    with op.batch_alter_table("connect_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connect_codes_app_id"), ["app_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_connect_codes_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_connect_codes_user_id"), ["user_id"], unique=False)

    op.create_table(
        "app_connections",
        sa.Column("app_id", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=8), nullable=False),
        sa.Column("workspace_id", sa.String(length=8), nullable=False),
        sa.Column("connected_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_connections_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_app_connections_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_app_connections_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", "user_id", name=op.f("pk_app_connections")),
    )
    with op.batch_alter_table("app_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_connections_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_workspaces_app_id_apps"), "apps", ["app_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_workspaces_app_id_apps"), type_="foreignkey")

    with op.batch_alter_table("app_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_connections_user_id"))

    op.drop_table("app_connections")
    with op.batch_alter_table("connect_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connect_codes_user_id"))
        batch_op.drop_index(batch_op.f("ix_connect_codes_expires_at"))
        batch_op.drop_index(batch_op.f("ix_connect_codes_app_id"))

    op.drop_table("connect_codes")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))

    op.drop_table("web_sessions")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apps_owner_id"))

    op.drop_table("apps")
    with op.batch_alter_table("sign_in_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_codes_email"))
        batch_op.drop_index(batch_op.f("ix_sign_in_codes_created_at"))

    op.drop_table("sign_in_codes")
