"""billing: usage meters, subscriptions, checkouts, provider events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:40:12.954040
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import imgpro.db.base
from imgpro.billing.plans import month_period, period_key
from imgpro.db.base import utcnow

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
    )
    op.create_table(
        "checkouts",
        sa.Column("id", sa.String(length=8), nullable=False),
        sa.Column("workspace_id", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("provider_session_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_checkouts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_checkouts_token_hash")),
    )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkouts_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "subscriptions",
        sa.Column("workspace_id", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("current_period_end", imgpro.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("last_event_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", imgpro.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_subscriptions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriptions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_subscriptions_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "usage_meters",
        sa.Column("workspace_id", sa.String(length=8), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("uploads", sa.Integer(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_usage_meters_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_usage_meters")),
    )
    _meter_existing_images()


def _meter_existing_images() -> None:
    """Start each workspace's meter from the images it already holds (anonymous: unmetered)."""
    now = utcnow()
    op.get_bind().execute(
        sa.text(
            "INSERT INTO usage_meters (workspace_id, period, uploads, storage_bytes, images) "
            "SELECT w.id, :period, "
            "(SELECT count(*) FROM images i "
            " WHERE i.workspace_id = w.id AND i.created_at >= :start), "
            "(SELECT coalesce(sum(i.bytes), 0) FROM images i WHERE i.workspace_id = w.id), "
            "(SELECT count(*) FROM images i WHERE i.workspace_id = w.id) "
            "FROM workspaces w WHERE w.kind != 'anonymous'"
        ).bindparams(
            sa.bindparam("period", period_key(now)),
            sa.bindparam("start", month_period(now)[0], type_=imgpro.db.base.UTCDateTime()),
        )
    )


def downgrade() -> None:
    op.drop_table("usage_meters")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_customer_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkouts_workspace_id"))

    op.drop_table("checkouts")
    op.drop_table("billing_events")
