"""Routes that read their own JSON bodies, for the heartbeat hot path.

A route that declares its body and dependencies as parameters has FastAPI solve them and
validate the response in a generic way, which cost about a third of the time a heartbeat
spent in Python. A DirectRoute's endpoint instead takes the request, authenticates it
first, validates the raw bytes with `read_body`, and returns its response. Invalid bodies
raise FastAPI's RequestValidationError, so the same 422 handler formats them, and
`request_body` with `openapi.complete_openapi` add the body to the OpenAPI document as if
it were declared.
"""

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

Model = TypeVar("Model", bound=BaseModel)

SCHEMA_REF = "#/components/schemas/{model}"
# A JSON escape of a UTF-16 surrogate, such as \ud800.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class DirectRoute(APIRoute):
    """A route whose endpoint takes the Request and returns its Response itself.

    FastAPI solves no parameters for it and validates no response: its response_model and
    openapi_extra only document it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint  # type: ignore[return-value]


async def read_body(request: Request, model: type[Model]) -> Model:
    """Parse the request body as JSON and validate it against model.

    Raises RequestValidationError (a 422) with the location of each error. The
    Content-Type is not checked, so JSON sent without it (as `curl -d` does) is accepted.
    """
    body = await _body(request)
    if not body.strip():
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        errors = error.errors(include_input=False)
    if errors[0]["type"] == "json_invalid" and _SURROGATE_ESCAPE.search(body):
        # pydantic's parser rejects the lone surrogates of \ud800 escapes, which Python's
        # parser accepts and the models replace.
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as decode_error:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body",),
                        "msg": f"JSON decode error: {decode_error}",
                    }
                ]
            ) from None
        try:
            return model.model_validate(document)
        except ValidationError as error:
            errors = error.errors(include_input=False)
    raise RequestValidationError([_in_body(error) for error in errors])


def _in_body(error: Any) -> dict[str, Any]:
    located = {**error, "loc": ("body", *error["loc"])}
    if error["type"] == "json_invalid":
        located["msg"] = f"JSON decode error: {error.get('ctx', {}).get('error', error['msg'])}"
    return located


async def _body(request: Request) -> bytes:
    """Read the whole body from the ASGI channel.

    Request.body() does the same through an async generator, whose set-up and clean-up
    cost more than the read itself for a body of a few hundred bytes.
    """
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """Return openapi_extra that documents model as a route's required JSON body."""
    schema = {"$ref": SCHEMA_REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
