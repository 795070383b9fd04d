"""The node's webhook sender: a task in every serving process that claims due messages from the
outbox (:func:`imgpro.webhooks.service.claim`), signs and POSTs each, and records the outcome.

It wakes when this process commits a transaction that queued events (so a change made here is
sent at once), and polls every `IMGPRO_WEBHOOK_POLL_SECONDS` for the rest: retries that fell due,
events other nodes or the CLI wrote, messages a dead node had claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from imgpro.errors import ApiError
from imgpro.images import fetch
from imgpro.logs import log
from imgpro.runtime import Runtime
from imgpro.webhooks import service as webhooks
from imgpro.webhooks import signing

#: messages one node attempts at once (each may wait up to the timeout for its endpoint)
CONCURRENCY = 16
_RUNNING: set[Sender] = set()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(webhooks.QUEUED, False):
        for sender in list(_RUNNING):
            sender.wake()


class Sender:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._wanted = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())
        _RUNNING.add(self)

    async def stop(self) -> None:
        _RUNNING.discard(self)
        tasks = [t for t in (self._task, *self._attempts) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        """Callable from any thread (a commit may happen on another event loop)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wanted.set)

    async def _run(self) -> None:
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds + 20)
        while True:
            self._wanted.clear()
            free = CONCURRENCY - len(self._attempts)
            claimed: list[webhooks.Claimed] = []
            if free > 0:
                try:
                    async with self.runtime.sessions() as db:
                        claimed = await webhooks.claim(db, lease, free)
                except Exception:  # the database may be away for a moment: try again later
                    log.exception("webhook_claim_failed")
            for message in claimed:
                task = asyncio.create_task(self._attempt(message))
                self._attempts.add(task)
                task.add_done_callback(self._attempt_done)
            if free > 0 and len(claimed) == free:
                continue  # there may be more due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wanted.wait(), timeout=self.settings.webhook_poll_seconds
                )

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        self._wanted.set()  # a slot is free

    async def _attempt(self, message: webhooks.Claimed) -> None:
        ok, response = await self.send(message)
        try:
            async with self.runtime.sessions() as db:
                status = await webhooks.record(
                    db, message, ok, response, self.settings.webhook_retry_seconds
                )
        except Exception:  # unrecorded: the claim runs out and the message is sent again
            log.exception("webhook_record_failed", message=message.id)
            return
        log.info(
            "webhook_attempt",
            message=message.id,
            app=message.app_id,
            attempt=message.attempt,
            response=response,
            status=status,
        )

    async def send(self, message: webhooks.Claimed) -> tuple[bool, str]:
        """One signed POST; (whether it was a 2xx, what came back or why nothing did)."""
        headers = signing.headers(message.secret, message.id, int(time.time()), message.body)
        try:
            status = await fetch.post(
                message.url,
                message.body,
                headers,
                timeout=self.settings.webhook_timeout_seconds,
                allow_networks=webhooks.allowed_networks(self.settings),
            )
        except ApiError as error:
            return False, _reason(error)
        except httpx.HTTPError as error:
            return False, f"{type(error).__name__}: {error}"[:200]
        return 200 <= status < 300, str(status)


def _reason(error: ApiError) -> str:
    details: Any = error.details or {}
    messages = [str(m) for values in details.values() for m in values]
    return " ".join(messages) or error.message
