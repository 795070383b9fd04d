"""Sign-in takes exactly one plain mailbox (issue 9, finding 1): address lists, quoted local
parts, display names, comments and IP literals are refused before any mail is sent, on the web
sign-in, the hosted login and the admin CLI; a valid address is stored normalised and SMTP is
handed that one recipient."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from imgpro.mail.service import OUTBOX_FILE
from tests.conftest import SmtpSink, Stack
from tests.factories import identity as idf

NOT_ONE_MAILBOX = [
    "attacker@evil.example;boss@company.example",
    "attacker@evil.example,boss@company.example",
    "attacker@evil.example, boss@company.example",
    '"boss@company.example"@evil.example',
    "Boss <boss@company.example>",
    "attacker@evil.example (boss@company.example)",
    "attacker@[127.0.0.1]",
    "attacker@evil.example\nBcc: boss@company.example",
]


def _mailed(stack: Stack) -> str:
    path = stack.settings.data_dir / OUTBOX_FILE
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("address", NOT_ONE_MAILBOX)
def test_web_sign_in_refuses_anything_but_one_mailbox(stack: Stack, address: str) -> None:
    client = stack.client()
    token = idf.csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"csrf_token": token, "email": address})
    assert response.status_code == 422 and "valid email" in response.text
    assert "Check your email" not in response.text
    assert "company.example" not in _mailed(stack) and "evil.example" not in _mailed(stack)


@pytest.mark.parametrize("address", NOT_ONE_MAILBOX[:4])
def test_hosted_login_refuses_anything_but_one_mailbox(stack: Stack, address: str) -> None:
    app = idf.register_app(stack)
    client = stack.client()
    fields = idf.hidden_fields(client.get(idf.connect_url(app)).text)
    response = client.post("/connect/email", data={**fields, "email": address})
    assert response.status_code == 422 and "valid email" in response.text
    assert "company.example" not in _mailed(stack) and "evil.example" not in _mailed(stack)


def test_smtp_gets_exactly_the_one_recipient(smtp_stack: Stack, smtp_sink: SmtpSink) -> None:
    client = smtp_stack.client()
    token = idf.csrf_of(client.get("/signin").text)
    for address in NOT_ONE_MAILBOX[:3]:
        refused = client.post("/signin", data={"csrf_token": token, "email": address})
        assert refused.status_code == 422
    email = idf.new_email()
    client.post("/signin", data={"csrf_token": token, "email": email})
    smtp_sink.code_for(email)
    assert [email] in smtp_sink.recipients
    everyone = [rcpt for envelope in smtp_sink.recipients for rcpt in envelope]
    assert not any("company.example" in rcpt or "evil.example" in rcpt for rcpt in everyone)


def test_an_international_domain_is_mailed_in_idna_and_stored_in_unicode(
    smtp_stack: Stack, smtp_sink: SmtpSink
) -> None:
    local = idf.new_email().split("@")[0]
    client = smtp_stack.client()
    token = idf.csrf_of(client.get("/signin").text)
    sent = client.post("/signin", data={"csrf_token": token, "email": f" {local}@Bücher.Example "})
    assert sent.status_code == 200 and f"{local}@bücher.example" in sent.text
    code = smtp_sink.code_for(f"{local}@xn--bcher-kva.example")
    assert [f"{local}@xn--bcher-kva.example"] in smtp_sink.recipients
    done = client.post(
        "/signin/code",
        data={"csrf_token": token, "email": f"{local}@bücher.example", "code": code},
    )
    assert done.status_code == 303
    assert f"{local}@bücher.example" in client.get("/dashboard/account").text


def test_the_exchange_reports_the_normalised_address(stack: Stack) -> None:
    app = idf.register_app(stack)
    local = idf.new_email().split("@")[0]
    client = stack.client()
    fields = idf.hidden_fields(client.get(idf.connect_url(app)).text)
    sent = client.post("/connect/email", data={**fields, "email": f"{local.upper()}@Example.COM"})
    assert sent.status_code == 200
    email = f"{local}@example.com"
    checked = client.post(
        "/connect/code", data={**fields, "email": email, "code": idf.outbox_code(stack, email)}
    )
    assert checked.status_code == 303
    _client, query = idf.run_connect(stack, app, email, client=client)
    answer = idf.exchange(stack, app.secret, {"code": query["code"]})
    assert answer.status_code == 200 and answer.json()["user"]["email"] == email


@pytest.mark.parametrize("address", NOT_ONE_MAILBOX[:4])
def test_admin_cli_refuses_anything_but_one_mailbox(cli: Callable[..., str], address: str) -> None:
    output = json.loads(cli("admin", "user", "create", address, "--json", code=1))
    assert output["error"]["code"] == "validation_error"
    created = json.loads(cli("admin", "user", "create", "Ops@Bücher.Example", "--json"))
    assert created["email"] == "ops@bücher.example"
    found = json.loads(cli("admin", "user", "disable", " OPS@xn--bcher-kva.example", "--json"))
    assert found["id"] == created["id"]
