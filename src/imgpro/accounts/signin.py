"""Email sign-in with a one-time code (decisions.md §2): 6 digits, valid 10 minutes, at most 5
wrong tries per code, at most 5 codes per email per hour and a per-address limit; stored as a
keyed hash. Signing in with a new address creates the account, so the email step answers the
same whether or not an account exists."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro.accounts import service as accounts
from imgpro.accounts.tables import SignInCode, User
from imgpro.db.base import utcnow
from imgpro.errors import rate_limited
from imgpro.ids import new_id
from imgpro.mail.service import Mail, mailer
from imgpro.runtime import Runtime

CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_TRIES = 5
MAX_CODES_PER_EMAIL_PER_HOUR = 5
CODES_PER_IP = "30/hour"
_CODE_RE = re.compile(r"^\d{6}$")


class SignInRefused(Exception):
    """The code was not accepted; `message` says what to do next."""

    def __init__(self, message: str, *, new_code_needed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.new_code_needed = new_code_needed


def _code_hash(runtime: Runtime, email: str, code: str) -> str:
    # keyed: a leaked table must not let anyone try the million codes offline
    key = runtime.settings.signing_key.encode()
    return hmac.new(key, f"sign-in:{email}:{code}".encode(), hashlib.sha256).hexdigest()


async def send_code(db: AsyncSession, runtime: Runtime, email: str, ip: str) -> str:
    """Mail a fresh code to `email` (older codes stop working); returns the normalised email.
    Raises validation_error for a malformed address, rate_limited when too many were sent."""
    email = accounts.normalise_email(email)
    now = utcnow()
    hour_ago = now - timedelta(hours=1)
    recent = (
        await db.execute(
            select(func.count(), func.min(SignInCode.created_at)).where(
                SignInCode.email == email, SignInCode.created_at > hour_ago
            )
        )
    ).one()
    if recent[0] >= MAX_CODES_PER_EMAIL_PER_HOUR:
        wait = int((recent[1] + timedelta(hours=1) - now).total_seconds()) + 1
        raise rate_limited(wait, "Too many codes were sent to this address.")
    await runtime.limits.hit(
        CODES_PER_IP, "sign-in-code", ip, message="Too many codes were requested from here."
    )
    await db.execute(
        update(SignInCode)
        .where(SignInCode.email == email, SignInCode.used_at.is_(None))
        .values(used_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    db.add(
        SignInCode(
            id=new_id(),
            email=email,
            code_hash=_code_hash(runtime, email, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    await db.commit()
    await mailer(runtime).send(
        Mail(
            to=email,
            subject=f"{code} is your img.pro sign-in code",
            text=(
                f"Your img.pro sign-in code is {code}\n\n"
                "It works once, for 10 minutes. If you did not ask for it, ignore this mail:\n"
                "nobody can sign in without the code.\n"
            ),
        )
    )
    return email


async def verify_code(db: AsyncSession, runtime: Runtime, email: str, code: str) -> User:
    """The user the code signs in (created on first sign-in), or SignInRefused."""
    email = accounts.normalise_email(email)
    code = code.strip().replace(" ", "")
    if not _CODE_RE.match(code):
        raise SignInRefused("Enter the 6-digit code from the email.")
    latest = (
        await db.execute(
            select(SignInCode)
            .where(SignInCode.email == email, SignInCode.used_at.is_(None))
            .order_by(SignInCode.created_at.desc())
            .limit(1)
        )
    ).scalar()
    now = utcnow()
    if latest is None or latest.expires_at <= now or latest.attempts >= MAX_WRONG_TRIES:
        raise SignInRefused(
            "This code has expired or was already used. Request a new code.",
            new_code_needed=True,
        )
    if not hmac.compare_digest(latest.code_hash, _code_hash(runtime, email, code)):
        latest.attempts += 1
        await db.commit()
        left = MAX_WRONG_TRIES - latest.attempts
        if left <= 0:
            raise SignInRefused("Too many wrong codes. Request a new code.", new_code_needed=True)
        raise SignInRefused(
            f"That code is not right. {left} {'try' if left == 1 else 'tries'} left."
        )
    claimed = await db.execute(
        update(SignInCode)
        .where(SignInCode.id == latest.id, SignInCode.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise SignInRefused("This code was already used. Request a new code.", new_code_needed=True)
    user = await accounts.find_user_by_email(db, email)
    if user is None:
        user = await accounts.create_user(db, email)
    if user.status != "active":
        await db.commit()
        raise SignInRefused("This account is disabled. Contact the operator of this img.pro.")
    await db.commit()
    return user
