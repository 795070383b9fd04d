"""The public surface: the OpenAPI document is valid and complete (decisions.md §9), and lists
every route and every error code. That every answer matches it is checked on every response
the suite receives (tests/contract.py)."""

from __future__ import annotations

from typing import get_args

from openapi_spec_validator import validate

from imgpro.errors import CATALOGUE, ErrorCode
from tests.conftest import Stack
from tests.contract import Contract

APP_CALLABLE = {
    ("/v1/images", "get"),
    ("/v1/images", "post"),
    ("/v1/images/{image_id}", "get"),
    ("/v1/images/{image_id}", "patch"),
    ("/v1/images/{image_id}", "delete"),
    ("/v1/images/batch", "delete"),
    ("/v1/usage", "get"),
    ("/v1/billing/status", "get"),
    ("/v1/billing/checkout", "post"),
}
IDEMPOTENT = {("/v1/images", "post"), ("/v1/billing/checkout", "post")}


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_openapi_is_valid_and_complete(stack: Stack) -> None:
    document = stack.client().get("/openapi.json").json()
    validate(document)
    found = {(path, method) for path, method, _ in operations(document)}
    assert APP_CALLABLE | {("/v1/auth/exchange", "post")} <= found
    for path, method, operation in operations(document):
        where = f"{method} {path}"
        assert operation.get("summary") and operation.get("description"), where
        assert "500" in operation["responses"], f"{where} lacks the error envelope"
        success = next(s for s in operation["responses"] if s.startswith("2"))
        assert operation["responses"][success]["content"]["application/json"]["example"], where
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                codes = response["content"]["application/json"]["schema"]["properties"]
                listed = codes["error"]["properties"]["code"]["enum"]
                assert all(int(status) in CATALOGUE[code].statuses for code in listed), where


def test_security_schemes_and_the_headers_apps_send(stack: Stack) -> None:
    document = stack.client().get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "apiKey": ("http", "bearer"),
        "appSecret": ("http", "bearer"),
    }
    for path, method, operation in operations(document):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        security = operation.get("security", [])
        if (path, method) in APP_CALLABLE:
            assert "X-Img-User" in headers, f"{method} {path}"
            assert {"apiKey": []} in security and {"appSecret": []} in security
        assert ("Idempotency-Key" in headers) == ((path, method) in IDEMPOTENT), f"{method} {path}"
    exchange = document["paths"]["/v1/auth/exchange"]["post"]
    assert exchange["security"] == [{"appSecret": []}]
    assert {} in document["paths"]["/v1/images"]["post"]["security"]  # anonymous uploads


def test_every_catalogued_code_is_documented_and_nothing_else(stack: Stack) -> None:
    document = stack.client().get("/openapi.json").json()
    documented = set(document["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"])
    assert documented == set(CATALOGUE) == set(get_args(ErrorCode))
    for code, kind in CATALOGUE.items():
        assert 400 <= kind.status < 600, code
        assert kind.type.endswith("_error"), code


def test_every_example_is_a_true_answer(stack: Stack) -> None:
    """The examples are what the docs show: each validates against its own response schema."""
    document = stack.client().get("/openapi.json").json()
    contract = Contract(document)
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json", {})
            if "example" in media:
                contract.validate(media["schema"], media["example"], f"{method} {path} {status}")
