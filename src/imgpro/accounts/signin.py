"""Email sign-in with a one-time code (decisions.md §2): 6 digits, valid 10 minutes, stored as a
keyed hash. Signing in with a new address creates the account, so the email step answers the
same whether or not an account exists.

Limits, and why each is counted the way it is:
* At most 5 tries per code, counted by one conditional UPDATE (`attempts < 5`) that claims a
  try before the code is compared: concurrent guesses, on any number of workers, cannot check
  a code a sixth time.
* Checks per client address, and wrong codes per email address (the second stops guessing
  spread over many client addresses).
* Asking for a code never cancels one already sent (every live code is accepted), and the
  codes per email address are budgeted per requesting client address: a stranger can neither
  void the owner's code nor use up the owner's budget. An overall cap per email address, above
  that budget, still stops mail bombing."""

from __future__ import annotations

import re
from datetime import timedelta

from limits import parse
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from imgpro import tokens
from imgpro.accounts import service as accounts
from imgpro.accounts.tables import SignInCode, User, UserStatus
from imgpro.db.base import utcnow
from imgpro.ids import new_id
from imgpro.mail.service import Mail, mailer
from imgpro.runtime import Runtime

CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
CODES_PER_IP = parse("30/hour")
CODES_PER_EMAIL_AND_IP = parse("5/hour")
CODES_PER_EMAIL = parse("10/hour")
CHECKS_PER_IP = parse("30/10 minutes")
WRONG_CODES_PER_EMAIL = parse("20/hour")
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
    return tokens.keyed_digest(key, f"sign-in:{email}:{code}".encode())


async def send_code(db: AsyncSession, runtime: Runtime, email: str, ip: str) -> str:
    """Mail a new code to `email` (codes sent before keep working); returns the normalised
    email. Raises validation_error for anything but one plain mailbox, rate_limited when too
    many were asked for."""
    email = accounts.normalise_email(email)
    limits = runtime.limits
    await limits.hit(
        CODES_PER_IP, "sign-in-code", ip, message="Too many codes were requested from here."
    )
    # the owner's own budget first: a stranger at their limit spends nothing of the overall cap
    sent_too_many = "Too many codes were sent to this address."
    await limits.hit(
        CODES_PER_EMAIL_AND_IP, "sign-in-code-to-from", email, ip, message=sent_too_many
    )
    await limits.hit(CODES_PER_EMAIL, "sign-in-code-to", email, message=sent_too_many)
    code = tokens.numeric_code(6)
    now = utcnow()
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


async def verify_code(db: AsyncSession, runtime: Runtime, email: str, code: str, ip: str) -> User:
    """The user the code signs in (created on first sign-in), or SignInRefused; rate_limited
    when this client address or this email address has tried too many."""
    email = accounts.normalise_email(email)
    code = code.strip().replace(" ", "")
    if not _CODE_RE.match(code):
        raise SignInRefused("Enter the 6-digit code from the email.")
    await runtime.limits.hit(
        CHECKS_PER_IP, "sign-in-check", ip, message="Too many codes were tried from here."
    )
    wrong_too_many = "Too many wrong codes were entered for this address."
    await runtime.limits.check(
        WRONG_CODES_PER_EMAIL, "sign-in-wrong", email, message=wrong_too_many
    )
    now = utcnow()
    # claim one try of every live code before comparing: the WHERE is re-checked under the row
    # lock, so no two requests can both take a code's fifth try
    live = SignInCode.email == email, SignInCode.used_at.is_(None), SignInCode.expires_at > now
    tried = (
        await db.execute(
            update(SignInCode)
            .where(*live, SignInCode.attempts < MAX_TRIES)
            .values(attempts=SignInCode.attempts + 1)
            .returning(SignInCode.id, SignInCode.code_hash, SignInCode.attempts)
            .execution_options(synchronize_session=False)
        )
    ).all()
    await db.commit()
    if not tried:
        raise SignInRefused(
            "This code has expired or was already used. Request a new code.",
            new_code_needed=True,
        )
    wanted = _code_hash(runtime, email, code)
    matched = [row.id for row in tried if tokens.same(row.code_hash, wanted)]
    if not matched:
        await runtime.limits.hit(
            WRONG_CODES_PER_EMAIL, "sign-in-wrong", email, message=wrong_too_many
        )
        left = MAX_TRIES - min(row.attempts for row in tried)
        if left <= 0:
            raise SignInRefused("Too many wrong codes. Request a new code.", new_code_needed=True)
        raise SignInRefused(
            f"That code is not right. {left} {'try' if left == 1 else 'tries'} left."
        )
    claimed = await db.execute(
        update(SignInCode)
        .where(SignInCode.id == matched[0], SignInCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise SignInRefused("This code was already used. Request a new code.", new_code_needed=True)
    # signed in: the other codes sent to this address have done their job
    await db.execute(
        update(SignInCode)
        .where(*live)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    user = await accounts.find_user_by_email(db, email)
    if user is None:
        user = await accounts.create_user(db, email)
    if user.status != UserStatus.ACTIVE:
        await db.commit()
        raise SignInRefused("This account is disabled. Contact the operator of this img.pro.")
    await db.commit()
    return user
