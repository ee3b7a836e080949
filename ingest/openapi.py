"""Additions to the generated OpenAPI document: hand-read bodies, the key, the errors.

FastAPI builds the document from route signatures. The heartbeat routes read their own
bodies, every /api route checks X-API-Key inside a dependency, and the error bodies come
from exception handlers, so none of these would appear in it. `complete_openapi` adds
them once, when the document is first generated.
"""

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from clevagent_server.ingest.bodies import SCHEMA_REF

API_KEY_SCHEME = "APIKeyHeader"

_ERROR_MESSAGE = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_VALIDATION_ERRORS = {
    "type": "object",
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        }
    },
    "required": ["detail"],
}

# Responses every /api operation may give, and those of the routes that take a body.
_EVERY_API_ROUTE = {
    "401": "Invalid or missing X-API-Key header",
    "429": "Rate limit exceeded; the Retry-After header gives the seconds to wait",
    "503": "Database unavailable or stalled; the Retry-After header gives the seconds to wait",
}
_BODY_LIMIT = {"413": "Request body larger than 1 MiB"}
_VALIDATION = {"422": "Invalid body or query: one entry per problem, with its location"}


def complete_openapi(app: FastAPI, body_models: list[type[BaseModel]]) -> None:
    """Make app's OpenAPI document include body_models, the API key and the error bodies."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            _, definitions = models_json_schema(
                [(model, "validation") for model in body_models], ref_template=SCHEMA_REF
            )
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            schemas["ErrorMessage"] = _ERROR_MESSAGE
            schemas["ValidationErrors"] = _VALIDATION_ERRORS
            document["components"]["securitySchemes"] = {
                API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            }
            for path, operations in document.get("paths", {}).items():
                if path.startswith("/api/"):
                    for operation in operations.values():
                        _document_api_operation(operation)
            # FastAPI's own 422 schemas list fields these error bodies do not have, and
            # every 422 now refers to ValidationErrors instead.
            for unused in ("HTTPValidationError", "ValidationError"):
                if json.dumps(SCHEMA_REF.format(model=unused)) not in json.dumps(document):
                    schemas.pop(unused, None)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _document_api_operation(operation: dict[str, Any]) -> None:
    operation["security"] = [{API_KEY_SCHEME: []}]
    responses = operation.setdefault("responses", {})
    expected = dict(_EVERY_API_ROUTE)
    if "requestBody" in operation:
        expected.update(_BODY_LIMIT)
    if "requestBody" in operation or "422" in responses:
        expected.update(_VALIDATION)
    for status, description in expected.items():
        schema = "ValidationErrors" if status == "422" else "ErrorMessage"
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": SCHEMA_REF.format(model=schema)}}},
        }
