"""Every domain's tables, imported once so the metadata is complete (Alembic, tests)."""

from imgpro.accounts import tables as accounts_tables  # noqa: F401
from imgpro.apps import tables as apps_tables  # noqa: F401
from imgpro.billing import tables as billing_tables  # noqa: F401
from imgpro.db.base import Base
from imgpro.idempotency import tables as idempotency_tables  # noqa: F401
from imgpro.images import tables as images_tables  # noqa: F401
from imgpro.keys import tables as keys_tables  # noqa: F401
from imgpro.webhooks import tables as webhooks_tables  # noqa: F401

metadata = Base.metadata
