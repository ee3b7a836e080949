"""A local stand-in for the OpenAI and Anthropic HTTP APIs, for the real client libraries.

It speaks the documented wire formats: JSON bodies for plain calls and server-sent events
for streams (Chat Completions chunks ending in `data: [DONE]`, Responses API events, and
Anthropic's message_start ... message_stop events). Streams use chunked transfer encoding,
so a stream cut mid-way ends without the final chunk, as a dropped connection does.

Tests choose the behaviour per call through the `scenario` and the token counts:
- "normal": usage included where the API includes it (Chat Completions streams only
  when the request asks for stream_options.include_usage);
- "no_usage": plain responses without a usage object and streams without usage events;
- "cut": the stream stops after its first content event and the connection closes.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tokens:
    """Token counts of one answer, in the vendor's own terms."""

    input: int = 100
    output: int = 20
    cached: int = 0  # OpenAI: part of input. Anthropic: cache reads, outside input.
    cache_write: int = 0  # Anthropic only: cache creation, outside input.
    reasoning: int = 0  # OpenAI: part of output. Anthropic: thinking tokens, part of output.


@dataclass
class VendorStandIn:
    scenario: str = "normal"
    tokens: Tokens = field(default_factory=Tokens)
    # Anthropic sends cumulative usage in message_delta; more than one delta tests that.
    anthropic_output_steps: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that drop a stream on purpose reset the connection; that is expected.
        pass


def _make_handler(vendor: VendorStandIn) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            vendor.requests.append({"path": self.path, "body": body})
            route = {
                "/v1/chat/completions": _chat,
                "/v1/responses": _responses,
                "/v1/messages": _messages,
            }.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            route(self, vendor, body)

        def send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_events(self, events: list[tuple[str | None, Any]], cut: bool) -> None:
            """Send server-sent events; with cut, stop after the second and drop the line."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index, (name, data) in enumerate(events):
                text = data if isinstance(data, str) else json.dumps(data)
                frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
                self.write_chunk(frame.encode())
                if cut and index == 1:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
            self.wfile.write(b"0\r\n\r\n")

        def write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _openai_chat_usage(tokens: Tokens) -> dict[str, Any]:
    return {
        "prompt_tokens": tokens.input,
        "completion_tokens": tokens.output,
        "total_tokens": tokens.input + tokens.output,
        "prompt_tokens_details": {"cached_tokens": tokens.cached},
        "completion_tokens_details": {"reasoning_tokens": tokens.reasoning},
    }


def _chat(handler: Any, vendor: VendorStandIn, body: dict[str, Any]) -> None:
    model = body["model"]
    usage = None if vendor.scenario == "no_usage" else _openai_chat_usage(vendor.tokens)
    base = {"id": "chatcmpl-1", "created": 1700000000, "model": model}

    if not body.get("stream"):
        handler.send_json(200, {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello there"}}],
            **({"usage": usage} if usage else {}),
        })
        return

    chunk = {**base, "object": "chat.completion.chunk"}
    events: list[tuple[str | None, Any]] = [
        (None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                              "content": "Hello"},
                                      "finish_reason": None}]}),
        (None, {**chunk, "choices": [{"index": 0, "delta": {"content": " there"},
                                      "finish_reason": None}]}),
        (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]
    include_usage = (body.get("stream_options") or {}).get("include_usage")
    if include_usage and usage:
        events.append((None, {**chunk, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    handler.send_events(events, vendor.scenario == "cut")


def _responses(handler: Any, vendor: VendorStandIn, body: dict[str, Any]) -> None:
    tokens = vendor.tokens
    usage = None if vendor.scenario == "no_usage" else {
        "input_tokens": tokens.input,
        "input_tokens_details": {"cached_tokens": tokens.cached},
        "output_tokens": tokens.output,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
        "total_tokens": tokens.input + tokens.output,
    }
    message = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "Hello there", "annotations": []}]}
    response = {"id": "resp_1", "object": "response", "created_at": 1700000000,
                "model": body["model"], "status": "completed", "output": [message],
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                "usage": usage}

    if not body.get("stream"):
        handler.send_json(200, response)
        return

    in_progress = {**response, "status": "in_progress", "output": [], "usage": None}
    empty_item = {**message, "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    steps: list[dict[str, Any]] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0, "item": empty_item},
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": "Hello there", "logprobs": []},
        {"type": "response.output_text.done", **where, "text": "Hello there", "logprobs": []},
        {"type": "response.content_part.done", **where,
         "part": {**part, "text": "Hello there"}},
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": response},
    ]
    events: list[tuple[str | None, Any]] = [
        (step["type"], {**step, "sequence_number": number}) for number, step in enumerate(steps)
    ]
    handler.send_events(events, vendor.scenario == "cut")


def _anthropic_usage(vendor: VendorStandIn, output: int) -> dict[str, Any]:
    tokens = vendor.tokens
    usage: dict[str, Any] = {
        "input_tokens": tokens.input,
        "cache_creation_input_tokens": tokens.cache_write,
        "cache_read_input_tokens": tokens.cached,
        "output_tokens": output,
    }
    if tokens.reasoning:
        usage["output_tokens_details"] = {"thinking_tokens": tokens.reasoning}
    return usage


def _messages(handler: Any, vendor: VendorStandIn, body: dict[str, Any]) -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
               "content": [{"type": "text", "text": "Hello there"}],
               "stop_reason": "end_turn", "stop_sequence": None}

    if not body.get("stream"):
        if vendor.scenario != "no_usage":
            message["usage"] = _anthropic_usage(vendor, vendor.tokens.output)
        handler.send_json(200, message)
        return

    start_usage = _anthropic_usage(vendor, 1)
    if vendor.scenario == "no_usage":
        start_usage = None
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start",
                           "message": {**message, "content": [], "stop_reason": None,
                                       "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hello there"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    if vendor.scenario != "no_usage":
        for output in vendor.anthropic_output_steps or [vendor.tokens.output]:
            delta_usage = {"output_tokens": output}
            if vendor.tokens.reasoning:
                delta_usage["output_tokens_details"] = {"thinking_tokens": vendor.tokens.reasoning}
            events.append(("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": delta_usage,
            }))
    events.append(("message_stop", {"type": "message_stop"}))
    handler.send_events(events, vendor.scenario == "cut")
