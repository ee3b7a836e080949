"""Error bodies of the API, which are part of its contract.

422: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}, without echoing the input
(which may be large). 503: the database is down or stalled, with Retry-After. 413: the
body is larger than MAX_BODY_BYTES.
"""

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clevagent_server.db.database import DatabaseUnavailable

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
DATABASE_RETRY_AFTER_SECONDS = 5


def validation_detail(
    errors: Iterable[Any], loc_prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Reduce pydantic errors to loc/msg/type, with loc_prefix before each location."""
    detail = []
    for error in errors:
        msg = error["msg"]
        if error["type"] == "missing":
            msg = "field required"  # the hosted product's wording, kept for compatibility
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        detail.append({"loc": [*loc_prefix, *error["loc"]], "msg": msg, "type": error["type"]})
    return detail


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": validation_detail(error.errors())}, status_code=422)


async def _on_database_unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable during %s %s: %s", request.method, request.url.path, error)
    seconds = DATABASE_RETRY_AFTER_SECONDS
    return JSONResponse(
        {"detail": f"Database unavailable. Retry after {seconds} seconds."},
        status_code=503,
        headers={"Retry-After": str(seconds)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(DatabaseUnavailable, _on_database_unavailable)


class BodySizeLimit:
    """Reject with 413 any request whose body exceeds max_bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._reject(send)
            else:
                # The HTTP server never passes on more than the declared length, so only
                # bodies of unknown length (chunked) need counting.
                await self.app(scope, receive, send)
            return

        # A body of unknown length (chunked) is read here first, so that one over the
        # limit gets its 413 before any route starts parsing it.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"Request body is larger than {self.max_bytes} bytes."}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
