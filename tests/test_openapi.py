"""The public surface: the OpenAPI document is valid, lists every route and every error code."""

from __future__ import annotations

from openapi_spec_validator import validate

from imgpro.errors import CATALOGUE
from tests.conftest import Stack


def test_openapi_is_valid_and_complete(stack: Stack) -> None:
    document = stack.client().get("/openapi.json").json()
    validate(document)
    paths = document["paths"]
    for path, methods in {
        "/v1/images": {"get", "post"},
        "/v1/images/{image_id}": {"get", "patch", "delete"},
        "/v1/images/batch": {"delete"},
        "/v1/usage": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path} has no summary"
            assert "500" in operation["responses"], f"{method} {path} lacks the error envelope"


def test_every_catalogued_code_is_documented_and_nothing_else(stack: Stack) -> None:
    document = stack.client().get("/openapi.json").json()
    documented = set(document["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"])
    assert documented == set(CATALOGUE)
    for code, kind in CATALOGUE.items():
        assert 400 <= kind.status < 600, code
        assert kind.type.endswith("_error"), code
