"""webhooks: an endpoint per app, the outbox of events (decisions.md §7)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import imgpro.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("app_id", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("updated_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_webhook_endpoints_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_response", sa.String(length=200), nullable=True),
        sa.Column("created_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_webhook_messages_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
    )
    with op.batch_alter_table("webhook_messages") as batch:
        batch.create_index("ix_webhook_messages_due", ["status", "next_attempt_at"])
        batch.create_index("ix_webhook_messages_app_created", ["app_id", "created_at"])


def downgrade() -> None:
    op.drop_table("webhook_messages")
    op.drop_table("webhook_endpoints")
