"""Mailers: SMTP against a real aiosmtpd sink, the console outbox, an SMTP server that is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from imgpro.errors import ApiError
from imgpro.mail.service import ConsoleMailer, Mail, SmtpMailer, open_mailer, read_outbox
from imgpro.settings import Settings
from tests.conftest import SmtpSink, Stack, free_port, start_stack
from tests.factories import identity as idf


def test_smtp_mailer_delivers(smtp_sink: SmtpSink) -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{smtp_sink.port}", "imgpro <no-reply@x.example>")
    asyncio.run(mailer.send(Mail("jane@example.com", "123456 is your img.pro sign-in code", "hi")))
    assert smtp_sink.code_for("jane@example.com") == "123456"
    message = smtp_sink.messages[-1]
    assert message["From"] == "imgpro <no-reply@x.example>"


def test_smtp_mailer_down_is_a_clear_error() -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", "x@y.z")
    with pytest.raises(ApiError) as raised:
        asyncio.run(mailer.send(Mail("a@b.example", "s", "t")))
    assert raised.value.code == "service_unavailable"


def test_mail_url_chooses_the_mailer(tmp_path: Path) -> None:
    console = open_mailer(Settings(data_dir=tmp_path))
    assert isinstance(console, ConsoleMailer)
    smtp = open_mailer(Settings(data_dir=tmp_path, mail_url="smtp+starttls://u:p%40ss@mx:2525"))
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.hostname, smtp.port, smtp.username, smtp.password) == ("mx", 2525, "u", "p@ss")
    assert smtp.start_tls and not smtp.use_tls
    with pytest.raises(ValueError):
        open_mailer(Settings(data_dir=tmp_path, mail_url="carrier-pigeon://"))


def test_console_outbox_lists_newest_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    mailer = ConsoleMailer(tmp_path / "outbox.jsonl")
    asyncio.run(mailer.send(Mail("a@example.com", "first", "1")))
    asyncio.run(mailer.send(Mail("b@example.com", "second", "2")))
    assert [m["subject"] for m in read_outbox(settings)] == ["second", "first"]


def test_sign_in_over_smtp(smtp_stack: Stack, smtp_sink: SmtpSink) -> None:
    email = idf.new_email()
    client = smtp_stack.client()
    token = idf.csrf_of(client.get("/signin").text)
    client.post("/signin", data={"csrf_token": token, "email": email})
    code = smtp_sink.code_for(email)
    done = client.post("/signin/code", data={"csrf_token": token, "email": email, "code": code})
    assert done.status_code == 303
    assert smtp_stack.client().get("/dev/outbox").status_code == 404  # SMTP: no dev outbox


def test_outbox_page_in_development(stack: Stack) -> None:
    email = idf.new_email()
    client = stack.client()
    token = idf.csrf_of(client.get("/signin").text)
    client.post("/signin", data={"csrf_token": token, "email": email})
    page = client.get("/dev/outbox")
    assert page.status_code == 200 and email in page.text
    assert idf.outbox_code(stack, email) in page.text


def test_mail_server_down_shows_a_page_not_a_500(tmp_path: Path) -> None:
    running, server = start_stack("smtp-down", tmp_path, mail_url=f"smtp://127.0.0.1:{free_port()}")
    try:
        client = running.client()
        token = idf.csrf_of(client.get("/signin").text)
        response = client.post("/signin", data={"csrf_token": token, "email": idf.new_email()})
        assert response.status_code == 503
        assert "could not be sent" in response.text
    finally:
        running.close()
        server.stop()
