"""Sending mail: `console://` logs each message and keeps it in the development outbox (a
JSON-lines file in the data dir, so every worker process sees the same outbox);
`smtp://host:port`, `smtp+starttls://user:pass@host:port` and `smtps://...` send through SMTP."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from imgpro.db.base import isoformat, utcnow
from imgpro.errors import ApiError
from imgpro.logs import log
from imgpro.mail.address import parse_mailbox
from imgpro.runtime import Runtime
from imgpro.settings import Settings

OUTBOX_FILE = "outbox.jsonl"
OUTBOX_KEEP = 50


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class ConsoleMailer:
    """Development mail: a log line and an entry in the outbox page."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, mail: Mail) -> None:
        log.info("mail", to=mail.to, subject=mail.subject, text=mail.text)
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        entry = {**asdict(mail), "sent_at": isoformat(utcnow())}
        with self.outbox.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
        if self.outbox.stat().st_size > 512 * 1024:  # keep the dev outbox small
            kept = self.outbox.read_text(encoding="utf-8").splitlines()[-OUTBOX_KEEP:]
            self.outbox.write_text("\n".join(kept) + "\n", encoding="utf-8")


class SmtpMailer:
    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self.sender = sender
        self.hostname = parts.hostname or "127.0.0.1"
        self.use_tls = parts.scheme == "smtps"
        self.start_tls = parts.scheme == "smtp+starttls"
        self.port = parts.port or (465 if self.use_tls else 587 if self.start_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    async def send(self, mail: Mail) -> None:
        recipient = parse_mailbox(mail.to).ascii
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = mail.subject
        message.set_content(mail.text)
        import aiosmtplib  # here: a server that sends no SMTP mail (console://) never loads it

        try:
            await aiosmtplib.send(
                message,
                # the one recipient, given explicitly: never read out of the To header
                recipients=[recipient],
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls if self.start_tls else False,
                timeout=15,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail_failed", to=mail.to, error=str(exc))
            raise ApiError(
                "service_unavailable", "The mail could not be sent; try again in a minute."
            ) from exc


def is_console(settings: Settings) -> bool:
    return settings.mail_url.startswith("console")


def open_mailer(settings: Settings) -> Mailer:
    scheme = urlsplit(settings.mail_url).scheme
    if is_console(settings):
        return ConsoleMailer(settings.data_dir / OUTBOX_FILE)
    if scheme in {"smtp", "smtps", "smtp+starttls"}:
        return SmtpMailer(settings.mail_url, settings.mail_from)
    raise ValueError("IMGPRO_MAIL_URL must be console://, smtp://, smtps:// or smtp+starttls://")


def mailer(runtime: Runtime) -> Mailer:
    """The process's mailer (tests may put another one in runtime.extras["mailer"])."""
    found = runtime.extras.get("mailer")
    if found is None:
        found = runtime.extras["mailer"] = open_mailer(runtime.settings)
    return found


def outbox_enabled(settings: Settings) -> bool:
    return is_console(settings) and settings.env != "production"


def read_outbox(settings: Settings, limit: int = OUTBOX_KEEP) -> list[dict[str, str]]:
    """The newest development mails first."""
    path = settings.data_dir / OUTBOX_FILE
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(line) for line in reversed(lines) if line.strip()]
