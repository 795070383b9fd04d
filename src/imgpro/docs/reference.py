"""The API reference as Markdown, generated from the OpenAPI document at request time, so every
operation, parameter, body and response the API declares is documented and none that it
doesn't. Values in, values out: a dict in, a string out."""

from __future__ import annotations

import json
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def type_of(schema: Any) -> str:
    """A short human name for a schema: `string`, `integer (1–100)`, `Image`, `"a" | "b"`."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            names = [type_of(option) for option in schema[combinator]]
            return " or ".join(dict.fromkeys(names))
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {type_of(schema.get('items'))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_of(schema['additionalProperties'])}"
    bounds = [
        f"{label} {schema[key]}"
        for key, label in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
        )
        if key in schema
    ]
    if schema.get("format"):
        bounds.insert(0, schema["format"])
    return f"{kind} ({', '.join(bounds)})" if bounds else str(kind)


def _fields_table(document: dict[str, Any], schema: Any) -> list[str]:
    schema = _resolve(document, schema)
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not properties:
        return [f"Type: {type_of(schema)}", ""]
    required = set(schema.get("required", []))
    lines = ["| Field | Type | Required | Description |", "|---|---|---|---|"]
    for name, prop in properties.items():
        description = prop.get("description", "") if isinstance(prop, dict) else ""
        lines.append(
            f"| `{name}` | {_cell(type_of(prop))} | {'yes' if name in required else 'no'} "
            f"| {_cell(description)} |"
        )
    return [*lines, ""]


def _example_of(media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict) and examples:
        first = next(iter(examples.values()))
        return first.get("value") if isinstance(first, dict) else None
    schema = media.get("schema")
    return schema.get("example") if isinstance(schema, dict) else None


def _skeleton(document: dict[str, Any], schema: Any) -> Any:
    """A request body with a placeholder for each required field, when the document gives no
    example: enough for a curl line that shows the shape."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        wanted = schema.get("required") or list(properties)[:1]  # none required: show one
        return {
            name: _skeleton(document, prop) for name, prop in properties.items() if name in wanted
        }
    return {"integer": 1, "number": 1, "boolean": True, "array": []}.get(str(kind), "...")


def _credential(operation: dict[str, Any]) -> str | None:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if "apiKey" in schemes:
        return "$IMGPRO_API_KEY"
    if "appSecret" in schemes:
        return "$IMGPRO_SECRET"
    return None


def _curl(
    document: dict[str, Any], api_url: str, method: str, path: str, operation: dict[str, Any]
) -> str:
    url = path.replace("{image_id}", "k3x9p2qa")
    lines = [f"curl -X {method.upper()} '{api_url}{url}'"]
    credential = _credential(operation)
    if credential:
        lines.append(f'-H "Authorization: Bearer {credential}"')
    body = _resolve(document, operation.get("requestBody", {})).get("content", {})
    if "multipart/form-data" in body:
        lines.append("-F file=@photo.jpg")
    elif "application/json" in body:
        media = body["application/json"]
        example = _example_of(media)
        if example is None:
            example = _skeleton(document, media.get("schema"))
        lines.append('-H "Content-Type: application/json"')
        lines.append(f"-d '{json.dumps(example)}'")
    return " \\\n  ".join(lines)


def _success_example(document: dict[str, Any], operation: dict[str, Any]) -> Any:
    for status, response in operation.get("responses", {}).items():
        if status.startswith("2"):
            media = _resolve(document, response).get("content", {}).get("application/json", {})
            return _example_of(media)
    return None


def _operation(
    document: dict[str, Any], api_url: str, method: str, path: str, operation: dict[str, Any]
) -> list[str]:
    lines = [f"### {method.upper()} {path}", ""]
    if operation.get("summary"):
        lines += [operation["summary"] + ".", ""]
    if operation.get("description"):
        lines += [operation["description"], ""]
    schemes = [name for requirement in operation.get("security", []) for name in requirement]
    if schemes:
        lines += ["Credentials: " + ", ".join(f"`{name}`" for name in schemes) + ".", ""]
    parameters = [_resolve(document, p) for p in operation.get("parameters", [])]
    if parameters:
        lines += ["| Parameter | In | Required | Type | Description |", "|---|---|---|---|---|"]
        for parameter in parameters:
            lines.append(
                f"| `{parameter.get('name')}` | {parameter.get('in')} "
                f"| {'yes' if parameter.get('required') else 'no'} "
                f"| {_cell(type_of(parameter.get('schema')))} "
                f"| {_cell(parameter.get('description', ''))} |"
            )
        lines.append("")
    body = _resolve(document, operation.get("requestBody", {}))
    for content_type, media in body.get("content", {}).items():
        lines += [f"Request body (`{content_type}`):", ""]
        lines += _fields_table(document, media.get("schema"))
        example = _example_of(media)
        if example is not None:
            lines += ["```json", json.dumps(example, indent=2), "```", ""]
    lines += ["| Status | Answer |", "|---|---|"]
    for status, response in operation.get("responses", {}).items():
        response = _resolve(document, response)
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        shape = f" ({type_of(schema)})" if schema else ""
        lines.append(f"| {status} | {_cell(response.get('description', ''))}{shape} |")
    lines += ["", "```bash", _curl(document, api_url, method, path, operation), "```", ""]
    example = _success_example(document, operation)
    if example is not None:
        lines += ["Example answer:", "", "```json", json.dumps(example, indent=2), "```", ""]
    return lines


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation, in the document's order."""
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                found.append((method, path, item[method]))
    return found


def reference_markdown(document: dict[str, Any], web_url: str, api_url: str, cdn_url: str) -> str:
    lines = ["## Operations", ""]
    for method, path, operation in operations(document):
        lines += _operation(document, api_url, method, path, operation)
    schemes = document.get("components", {}).get("securitySchemes", {})
    if schemes:
        lines += ["## Credentials", "", "| Scheme | How | Description |", "|---|---|---|"]
        for name, scheme in schemes.items():
            how = scheme.get("scheme") or scheme.get("in") or scheme.get("type", "")
            lines.append(f"| `{name}` | {_cell(how)} | {_cell(scheme.get('description', ''))} |")
        lines.append("")
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Objects", ""]
        for name, schema in schemas.items():
            lines += [f"### {name}", ""]
            if isinstance(schema, dict) and schema.get("description"):
                lines += [schema["description"], ""]
            lines += _fields_table(document, schema)
    # the document's examples name img.pro's hosts; the reader's are this instance's
    return (
        "\n".join(lines)
        .replace("https://src.img.pro", cdn_url)
        .replace("https://api.img.pro", api_url)
        .replace("https://img.pro", web_url)
    )
