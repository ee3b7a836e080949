"""Wrap the request and stream classes of the openai and anthropic libraries.

Both libraries send every API call through one method, `request`, of their sync and
async base clients, and wrap every server-sent-event response in a Stream or AsyncStream
whose `__stream__` generator yields the parsed events. Wrapping those four places covers
create(), parse(), stream() helpers, with_raw_response and `with` stream managers, and
leaves the objects the caller receives untouched: same classes, same attributes, same
exceptions. The wrappers only read what passes through; any error of their own is
swallowed, so the call goes on as if the SDK were absent.
"""

from __future__ import annotations

import functools
import importlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from clevagent.autocost._usage import StreamUsage, anthropic_row, field, openai_row

logger = logging.getLogger("clevagent")

MARKER = "__clevagent_wrapped__"

# API paths whose responses carry token usage. Only POSTs count: a GET on the same path
# lists stored objects.
LLM_PATH_SUFFIXES = ("/chat/completions", "/responses", "/messages", "/completions")

Emit = Callable[[str, str, "tuple[int, ...] | None"], None]

# Calls whose stream has not finished yet, by the HTTP response object: anthropic iterates
# a copy of its Stream, and both the copy and the original share the response.
_stream_calls: weakref.WeakKeyDictionary[Any, StreamCall] = weakref.WeakKeyDictionary()


class StreamCall:
    """One streamed LLM call: collects usage from its events and reports it once."""

    def __init__(self, provider: str, emit: Emit) -> None:
        self.usage = StreamUsage(provider)
        self.emit = emit
        self.done = False

    def observe(self, event: Any) -> None:
        try:
            self.usage.observe(event)
        except Exception:
            logger.debug("reading usage from a stream event failed", exc_info=True)

    def finish(self) -> None:
        """Report the usage seen, or an unknown-usage call if none arrived; idempotent.

        Also runs from a weakref finalizer during garbage collection, so it must not take
        locks: emit only appends to a deque.
        """
        if self.done:
            return
        self.done = True
        self.emit(self.usage.provider, self.usage.model or "unknown", self.usage.row)


def patch_library(provider: str, emit: Emit) -> bool:
    """Wrap the library `provider` ("openai" or "anthropic"); return True once wrapped."""
    base_client = importlib.import_module(f"{provider}._base_client")
    streaming = importlib.import_module(f"{provider}._streaming")
    row_of = openai_row if provider == "openai" else anthropic_row
    streams = (streaming.Stream, streaming.AsyncStream)

    _wrap(base_client.SyncAPIClient, "request",
          _sync_request_wrapper(provider, row_of, emit, streams))
    _wrap(base_client.AsyncAPIClient, "request",
          _async_request_wrapper(provider, row_of, emit, streams))
    for stream_class in (streaming.Stream, streaming.AsyncStream):
        _wrap(stream_class, "__init__", _stream_init_wrapper(provider, emit))
    _wrap(streaming.Stream, "__stream__", _sync_stream_wrapper)
    _wrap(streaming.AsyncStream, "__stream__", _async_stream_wrapper)
    _wrap(streaming.Stream, "close", _sync_close_wrapper)
    _wrap(streaming.AsyncStream, "close", _async_close_wrapper)
    return True


def _wrap(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    original = owner.__dict__.get(name)
    if original is None or getattr(original, MARKER, False):
        return
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, MARKER, True)
    setattr(owner, name, wrapper)


def llm_path(method: object, url: object) -> bool:
    if not isinstance(method, str) or method.lower() != "post":
        return False
    path = str(url).split("?", 1)[0].rstrip("/")
    return path.endswith(LLM_PATH_SUFFIXES)


def _sync_request_wrapper(provider: str, row_of: Callable[[Any], Any], emit: Emit,
                          stream_classes: tuple[type, ...]) -> Any:
    def make(original: Any) -> Any:
        def request(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            _observe_result(provider, row_of, emit, args, kwargs, result, stream_classes)
            return result

        return request

    return make


def _async_request_wrapper(provider: str, row_of: Callable[[Any], Any], emit: Emit,
                           stream_classes: tuple[type, ...]) -> Any:
    def make(original: Any) -> Any:
        async def request(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = await original(self, *args, **kwargs)
            _observe_result(provider, row_of, emit, args, kwargs, result, stream_classes)
            return result

        return request

    return make


def _observe_result(provider: str, row_of: Callable[[Any], Any], emit: Emit,
                    args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                    stream_classes: tuple[type, ...]) -> None:
    """Report the usage of a finished non-streamed call; streams report themselves."""
    try:
        options = args[1] if len(args) > 1 else kwargs.get("options")
        if not llm_path(field(options, "method"), field(options, "url")):
            return
        if kwargs.get("stream") or isinstance(result, stream_classes):
            return

        body: Any = result
        http_response = getattr(result, "http_response", None)
        if http_response is not None:
            # with_raw_response: the body is read but not parsed until the caller asks.
            body = _json_body(http_response)

        requested = field(field(options, "json_data"), "model")
        model = field(body, "model") or requested or "unknown"
        emit(provider, str(model), row_of(field(body, "usage")))
    except Exception:
        logger.debug("reading usage from a %s response failed", provider, exc_info=True)


def _json_body(http_response: Any) -> Any:
    try:
        return http_response.json()
    except Exception:
        # with_streaming_response: the body is still unread and belongs to the caller.
        return None


def _stream_init_wrapper(provider: str, emit: Emit) -> Any:
    def make(original: Any) -> Any:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            try:
                _register_stream(self, provider, emit)
            except Exception:
                logger.debug("tracking a %s stream failed", provider, exc_info=True)

        return __init__

    return make


def _register_stream(stream: Any, provider: str, emit: Emit) -> None:
    response = stream.response
    request = response.request
    if not llm_path(request.method, request.url.path):
        return
    call = StreamCall(provider, emit)
    _stream_calls[response] = call
    # A stream that is dropped without being read to its end still counts as a call.
    weakref.finalize(response, call.finish)


def _sync_stream_wrapper(original: Any) -> Any:
    def __stream__(self: Any) -> Iterator[Any]:
        call = _stream_calls.get(self.response)
        if call is None:
            yield from original(self)
            return

        events = original(self)
        try:
            for event in events:
                call.observe(event)
                yield event
        finally:
            events.close()
            call.finish()

    return __stream__


def _async_stream_wrapper(original: Any) -> Any:
    async def __stream__(self: Any) -> AsyncIterator[Any]:
        # Looked up on first iteration, not at creation: openai creates the generator
        # inside Stream.__init__, before the stream is registered.
        call = _stream_calls.get(self.response)
        events = original(self)
        try:
            async for event in events:
                if call is not None:
                    call.observe(event)
                yield event
        finally:
            await events.aclose()
            if call is not None:
                call.finish()

    return __stream__


def _finish_stream(stream: Any) -> None:
    try:
        call = _stream_calls.get(stream.response)
        if call is not None:
            call.finish()
    except Exception:
        logger.debug("finishing a stream call failed", exc_info=True)


def _sync_close_wrapper(original: Any) -> Any:
    # A stream closed before its end is a finished call: its usage will never arrive.
    def close(self: Any) -> None:
        try:
            original(self)
        finally:
            _finish_stream(self)

    return close


def _async_close_wrapper(original: Any) -> Any:
    async def close(self: Any) -> None:
        try:
            await original(self)
        finally:
            _finish_stream(self)

    return close
