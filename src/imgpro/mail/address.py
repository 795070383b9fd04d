"""One mailbox, parsed strictly by `email-validator`: a sign-in code goes to exactly the address
typed, and an app that trusts the verified email gets exactly that address. Address lists
(`a@x,b@y`, `a@x;b@y`), quoted local parts, display names, comments and IP literals are refused,
so no mail library ever gets to read several recipients out of one "email"."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from imgpro.errors import invalid

EXAMPLE = "jane@example.com"


@dataclass(frozen=True)
class Mailbox:
    address: str  # normalised: lower case, Unicode domain; stored and shown
    ascii: str  # the domain in IDNA; what SMTP is handed


def parse_mailbox(text: str) -> Mailbox:
    """The one plain mailbox in `text`, or validation_error on the field `email`."""
    try:
        valid = validate_email(
            text.strip(),
            check_deliverability=False,  # no DNS on the request path; the code proves delivery
            allow_smtputf8=False,  # an ASCII local part: every SMTP server can deliver it
        )
    except EmailNotValidError as exc:
        raise invalid("email", f"Enter a valid email address, like {EXAMPLE}. {exc}") from None
    assert valid.ascii_email is not None  # allow_smtputf8=False: the local part is ASCII
    # one account per address whatever its case, as sign-in always did
    return Mailbox(valid.normalized.lower(), valid.ascii_email.lower())
