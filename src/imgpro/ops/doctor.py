"""`imgpro doctor`: check every configured backend and say how to fix what is wrong
(decisions.md §6). Each check is independent: one dead backend never hides another's state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiosmtplib
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from imgpro import tokens
from imgpro.db.migrate import alembic_config
from imgpro.mail.service import SmtpMailer, is_console
from imgpro.runtime import Runtime
from imgpro.storage.coordination import redis_client

#: A check that does not answer in this long has failed (a black-holed host must not hang it).
CHECK_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Problem(Exception):
    """What is wrong and how to fix it, in one sentence for the operator."""


async def _database(runtime: Runtime) -> str:
    url = runtime.settings.database_url
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()

    def current(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    try:
        async with runtime.engine.connect() as connection:
            revision = await AsyncConnection.run_sync(connection, current)
    except Exception as error:
        raise Problem(
            f"cannot connect ({type(error).__name__}: {str(error)[:200]}); check "
            "IMGPRO_DATABASE_URL and that the server is up"
        ) from None
    if revision != head:
        raise Problem(
            f"schema at {revision or 'nothing'}, code expects {head}; run `imgpro migrate`"
        )
    return f"reachable, schema at head {head}"


async def _blob_store(runtime: Runtime) -> str:
    key = f"doctor/probe-{tokens.hex_token(8)}"
    payload = tokens.random_bytes(32)
    try:
        await runtime.blobs.put_bytes(key, payload)
        read = await runtime.blobs.get_bytes(key)
        await runtime.blobs.delete(key)
    except Exception as error:
        raise Problem(
            f"read/write/delete failed ({type(error).__name__}: {str(error)[:200]}); check "
            "IMGPRO_STORAGE_URL, the bucket and the AWS_* credentials"
        ) from None
    if read != payload:
        raise Problem("a blob read back differs from what was written; check the store")
    return f"read, write and delete work on {runtime.settings.storage_url.split('?')[0]}"


async def _redis(runtime: Runtime) -> str:
    if not runtime.settings.redis_url:
        if not runtime.settings.is_sqlite or runtime.settings.storage_url.startswith("s3"):
            raise Problem(
                "IMGPRO_REDIS_URL is unset: with several nodes, rate limits, the render lock and "
                "delete notices stay inside each process; set redis://host:6379/0"
            )
        return "not configured: limits and locks live in this process (fine for one node)"
    client = redis_client(runtime.settings.redis_url)
    try:
        await client.ping()
    except Exception as error:
        raise Problem(f"no answer ({str(error)[:200]}); check IMGPRO_REDIS_URL") from None
    finally:
        await client.aclose()
    return "answers PING"


async def _mail(runtime: Runtime) -> str:
    settings = runtime.settings
    if is_console(settings):
        if settings.env == "production":
            raise Problem("console mail in production; set IMGPRO_MAIL_URL=smtp://host:port")
        return "console: codes go to the log and /dev/outbox (development only)"
    mailer = SmtpMailer(settings.mail_url, settings.mail_from)
    smtp = aiosmtplib.SMTP(
        hostname=mailer.hostname,
        port=mailer.port,
        use_tls=mailer.use_tls,
        start_tls=mailer.start_tls if mailer.start_tls else False,
        timeout=CHECK_SECONDS,
    )
    try:
        await smtp.connect()
        if mailer.username and mailer.password:
            await smtp.login(mailer.username, mailer.password)
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError) as error:
        raise Problem(f"SMTP server refused or unreachable ({str(error)[:200]})") from None
    return f"SMTP server at {mailer.hostname}:{mailer.port} answers"


async def _billing(runtime: Runtime) -> str:
    settings = runtime.settings
    if settings.billing_provider == "local":
        if settings.env == "production":
            raise Problem("local test billing in production; set IMGPRO_BILLING_PROVIDER=stripe")
        return "local test checkout (no money moves)"
    if not (settings.stripe_secret_key and settings.stripe_webhook_secret):
        raise Problem("set IMGPRO_STRIPE_SECRET_KEY and IMGPRO_STRIPE_WEBHOOK_SECRET")
    return "stripe keys set"


async def _production(runtime: Runtime) -> str:
    settings = runtime.settings
    if settings.env != "production":
        return f"IMGPRO_ENV={settings.env}: production refusals not applied"
    if problems := settings.production_problems():
        raise Problem("; ".join(problems))
    return "ready for production"


CHECKS: list[tuple[str, Callable[[Runtime], Awaitable[str]]]] = [
    ("database", _database),
    ("blob_store", _blob_store),
    ("redis", _redis),
    ("mail", _mail),
    ("billing", _billing),
    ("production", _production),
]


async def _run(name: str, check: Callable[[Runtime], Awaitable[str]], runtime: Runtime) -> Check:
    try:
        return Check(name, True, await asyncio.wait_for(check(runtime), CHECK_SECONDS))
    except Problem as problem:
        return Check(name, False, str(problem))
    except TimeoutError:
        return Check(name, False, f"no answer within {CHECK_SECONDS:.0f} s; is it reachable?")


async def diagnose(runtime: Runtime) -> list[Check]:
    return list(await asyncio.gather(*(_run(name, check, runtime) for name, check in CHECKS)))
