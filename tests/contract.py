"""Every API response a test receives must match what /openapi.json documents for it.

`Contract.check` is an httpx response hook (see `Stack.client`): for a request to the api
surface it finds the documented operation, the documented status and its JSON schema, and
fails the test on anything undocumented: a status the operation does not list, an error code
that status does not list, a body that does not validate. So the document cannot drift from
the server without the suite noticing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft202012Validator

_API_PATH = re.compile(r"^/v1(/|$)")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]


def _path_patterns(operations: dict[str, Any]) -> dict[str, str]:
    """Each path parameter's documented pattern (any segment when it has none)."""
    patterns: dict[str, str] = {}
    for operation in operations.values():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                found = parameter.get("schema", {}).get("pattern", "^[^/]+$")
                patterns[parameter["name"]] = found.strip("^$")
    return patterns


class ContractBroken(AssertionError):
    """The server answered something /openapi.json does not document."""


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.paths: list[tuple[re.Pattern[str], str, dict[str, Any]]] = []
        # literal paths first: /v1/images/batch is not /v1/images/{image_id}
        for template in sorted(document["paths"], key=lambda t: (t.count("{"), t)):
            operations = document["paths"][template]
            pattern = re.escape(template)
            for name, value in _path_patterns(operations).items():
                pattern = pattern.replace(re.escape("{" + name + "}"), value)
            self.paths.append((re.compile(f"^{pattern}$"), template, operations))

    def operation(self, method: str, path: str) -> Operation | None:
        # GET /v1/images/batch is GET /v1/images/{image_id}: the first template with the method
        for pattern, template, operations in self.paths:
            spec = operations.get(method.lower())
            if spec is not None and pattern.match(path):
                return Operation(method, template, spec)
        return None

    def validate(self, schema: dict[str, Any], instance: Any, where: str) -> None:
        # the schema's $refs point into the document: validate with its components beside it
        root = {**schema, "components": self.document["components"]}
        errors = sorted(Draft202012Validator(root).iter_errors(instance), key=str)
        if errors:
            raise ContractBroken(f"{where}: {errors[0].message} at {list(errors[0].path)}")

    def check(self, response: httpx.Response) -> None:
        request = response.request
        path = request.url.path
        if not _API_PATH.match(path):
            return
        response.read()
        where = f"{request.method} {path} -> {response.status_code}"
        operation = self.operation(request.method, path)
        if operation is None:
            self._check_unrouted(response, where)
            return
        where = f"{request.method} {operation.template} -> {response.status_code}"
        documented = operation.spec["responses"].get(str(response.status_code))
        if documented is None:
            raise ContractBroken(f"{where}: status not documented ({response.text[:300]})")
        if request.method == "HEAD" or not documented.get("content"):
            return
        content_type = response.headers.get("content-type", "").split(";")[0]
        media = documented["content"].get(content_type)
        if media is None:
            raise ContractBroken(f"{where}: content type {content_type!r} not documented")
        self.validate(media["schema"], json.loads(response.content), where)

    def _check_unrouted(self, response: httpx.Response, where: str) -> None:
        """No such operation: the answer is the envelope with not_found or method_not_allowed."""
        envelope = self.document["components"]["schemas"]["ErrorEnvelope"]
        self.validate(envelope, response.json(), where)
        code = response.json()["error"]["code"]
        expected = {404: "not_found", 405: "method_not_allowed"}.get(response.status_code)
        if code != expected:
            raise ContractBroken(f"{where}: an unrouted request answered {code}")
