"""Sign-in code limits under attack (issue 9, findings 2 and 7).

Tries are counted atomically: however many wrong guesses arrive at once, at most 5 are checked
against a code and then it is dead. Checks are limited per client address and wrong codes per
email address. Asking for a code never cancels one already sent, and the budget of codes per
address is counted per requesting client address, so a stranger can neither void nor use up
the owner's codes; an overall cap per address still stops mail bombing."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from imgpro.accounts import signin
from tests.conftest import PG_URL, REDIS_URL, Stack, served
from tests.factories import identity as idf

GUESSES = 50


def _fresh_ip() -> str:
    """A client address no other test uses, so per-address limits never carry over."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


class Browser:
    """One browser at one client address, with its CSRF cookie and token."""

    def __init__(self, stack: Stack, ip: str | None = None) -> None:
        self.client = stack.client(**{"X-Forwarded-For": ip or _fresh_ip()})
        self.token = idf.csrf_of(self.client.get("/signin").text)

    def request_code(self, email: str) -> httpx.Response:
        return self.client.post("/signin", data={"csrf_token": self.token, "email": email})

    def check(self, email: str, code: str) -> httpx.Response:
        return self.client.post(
            "/signin/code", data={"csrf_token": self.token, "email": email, "code": code}
        )


def _wrong(code: str, n: int = 1) -> str:
    return f"{(int(code) + n) % 1_000_000:06d}"


def _was_checked(response: httpx.Response) -> bool:
    """The answer of a guess that was compared with a live code (not refused before)."""
    return "is not right" in response.text or "Too many wrong codes. Request" in response.text


def _guess_all_at_once(stack: Stack, email: str, code: str) -> list[httpx.Response]:
    browsers = [Browser(stack) for _ in range(GUESSES)]
    start = threading.Barrier(GUESSES)

    def guess(n: int) -> httpx.Response:
        start.wait()
        return browsers[n].check(email, _wrong(code, n + 1))

    with ThreadPoolExecutor(GUESSES) as pool:
        return list(pool.map(guess, range(GUESSES)))


def _race(stack: Stack) -> None:
    email = idf.new_email()
    assert Browser(stack).request_code(email).status_code == 200
    code = idf.outbox_code(stack, email)
    answers = _guess_all_at_once(stack, email, code)
    assert all(answer.status_code in (422, 429) for answer in answers)
    assert sum(_was_checked(answer) for answer in answers) <= signin.MAX_TRIES
    late = Browser(stack).check(email, code)
    assert late.status_code == 422 and "Request a new code" in late.text
    assert "imgpro_session" not in late.cookies


def test_fifty_concurrent_wrong_guesses_check_at_most_five(stack: Stack) -> None:
    _race(stack)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`imgpro serve --workers 2` on PostgreSQL and Redis of its own, behind a trusted proxy."""
    redis_base, _, redis_db = REDIS_URL.rpartition("/")
    with served(
        tmp_path_factory.mktemp("two-workers-sign-in"),
        workers=2,
        database_url=PG_URL + "_served",
        redis_url=f"{redis_base}/{(int(redis_db) - 2) % 16}",
        trusted_proxies=["127.0.0.1"],
    ) as running:
        yield running


def test_fifty_concurrent_wrong_guesses_on_two_workers(two_workers: Stack) -> None:
    _race(two_workers)


def test_checks_are_limited_per_client_address(stack: Stack) -> None:
    browser = Browser(stack)
    for _ in range(signin.CHECKS_PER_IP.amount):
        answer = browser.check(idf.new_email(), "123456")
        assert answer.status_code == 422
    limited = browser.check(idf.new_email(), "123456")
    assert limited.status_code == 429
    assert "Too many codes were tried from here" in limited.text and "minute" in limited.text


def test_wrong_codes_are_limited_per_email_address(stack: Stack) -> None:
    email = idf.new_email()
    wrong_checks = 0
    while wrong_checks < signin.WRONG_CODES_PER_EMAIL.amount:
        assert Browser(stack).request_code(email).status_code == 200
        code = idf.outbox_code(stack, email)
        for n in range(signin.MAX_TRIES):
            assert _was_checked(Browser(stack).check(email, _wrong(code, n + 1)))
            wrong_checks += 1
    owner = Browser(stack)
    assert owner.request_code(email).status_code == 200
    limited = owner.check(email, idf.outbox_code(stack, email))
    assert limited.status_code == 429 and "minute" in limited.text


def test_a_pending_code_survives_someone_else_asking_for_more(stack: Stack) -> None:
    email = idf.new_email()
    owner = Browser(stack)
    assert owner.request_code(email).status_code == 200
    pending = idf.outbox_code(stack, email)
    stranger = Browser(stack)
    for _ in range(signin.CODES_PER_EMAIL_AND_IP.amount):
        assert stranger.request_code(email).status_code == 200
    assert stranger.request_code(email).status_code == 429
    assert owner.check(email, pending).status_code == 303


def test_strangers_cannot_spend_the_owners_budget(stack: Stack) -> None:
    email = idf.new_email()
    stranger = Browser(stack)
    for _ in range(signin.CODES_PER_EMAIL_AND_IP.amount):
        assert stranger.request_code(email).status_code == 200
    limited = stranger.request_code(email)
    assert limited.status_code == 429 and "Too many codes" in limited.text
    owner = Browser(stack)
    assert owner.request_code(email).status_code == 200
    assert owner.check(email, idf.outbox_code(stack, email)).status_code == 303


def test_an_overall_cap_per_email_address_stops_mail_bombing(stack: Stack) -> None:
    email = idf.new_email()
    for _ in range(signin.CODES_PER_EMAIL.amount):
        assert Browser(stack).request_code(email).status_code == 200
    bombed = Browser(stack).request_code(email)
    assert bombed.status_code == 429 and "Too many codes were sent to this address" in bombed.text
