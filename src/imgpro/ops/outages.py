"""Which failures mean "a backend is down" (decisions.md §6): PostgreSQL, Redis or the blob
store unreachable, refusing or timing out, or every render process busy. Those answer 503
`service_unavailable` with Retry-After instead of 500, and nothing needs resetting: every client
reconnects on its next use, so the node recovers by itself when the backend returns."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from imgpro.cdn.pool import PoolBusy
from imgpro.clients import errors_of
from imgpro.errors import ApiError
from imgpro.storage import StoreUnavailable

RETRY_AFTER_SECONDS = 5

_OUTAGES = (
    StoreUnavailable,
    OperationalError,  # connect refused, server closed the connection, SQLite locked too long
    InterfaceError,
    ConnectionError,  # refused / reset sockets that no library wrapped
    TimeoutError,
    PoolBusy,  # where no route answered it itself (the docs' sample, drawn on first view)
)


def is_outage(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    clients = (
        *errors_of("redis.exceptions", "ConnectionError", "TimeoutError"),
        # InterfaceError: "connection is closed" under a pooled connection
        *errors_of("asyncpg", "PostgresConnectionError", "InterfaceError"),
    )
    return isinstance(error, (*_OUTAGES, *clients))


def unavailable(error: BaseException) -> ApiError | None:
    """The 503 to answer for `error`, or None when it is not a backend outage (a bug: 500)."""
    if not is_outage(error):
        return None
    return ApiError(
        "service_unavailable",
        "A backend this request needs is unavailable; retry shortly.",
        action={"type": "wait", "retry_after": RETRY_AFTER_SECONDS},
    )
