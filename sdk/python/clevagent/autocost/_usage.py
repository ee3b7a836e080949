"""Read token usage from OpenAI and Anthropic responses and stream events.

Every function takes the library's objects or the equivalent JSON dicts, and returns a
row in the heartbeat's usage order (input, output, cached, cache_write, reasoning, calls)
or None when the usage is absent.

One convention on the wire: input_tokens counts every input token, including cache reads
and cache writes; cached_tokens and cache_write_tokens are parts of it, and
reasoning_tokens is part of output_tokens. OpenAI already reports this way. Anthropic
reports cache reads and writes beside input_tokens, so they are added in here.
"""

from __future__ import annotations

from typing import Any

Row = tuple[int, int, int, int, int, int]


def field(source: Any, name: str) -> Any:
    """Return source.name or source[name], or None; works on models and dicts alike."""
    if source is None:
        return None
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


def count(source: Any, name: str) -> int:
    value = field(source, name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def openai_row(usage: Any) -> Row | None:
    """Convert Chat Completions usage (prompt_/completion_tokens) or Responses usage
    (input_/output_tokens); cached and reasoning tokens are subsets there already."""
    if usage is None:
        return None
    if field(usage, "prompt_tokens") is not None or field(usage, "completion_tokens") is not None:
        input_details = field(usage, "prompt_tokens_details")
        output_details = field(usage, "completion_tokens_details")
        input_tokens = count(usage, "prompt_tokens")
        output_tokens = count(usage, "completion_tokens")
    elif field(usage, "input_tokens") is not None or field(usage, "output_tokens") is not None:
        input_details = field(usage, "input_tokens_details")
        output_details = field(usage, "output_tokens_details")
        input_tokens = count(usage, "input_tokens")
        output_tokens = count(usage, "output_tokens")
    else:
        return None

    cached = min(count(input_details, "cached_tokens"), input_tokens)
    reasoning = min(count(output_details, "reasoning_tokens"), output_tokens)
    return (input_tokens, output_tokens, cached, 0, reasoning, 1)


def anthropic_row(usage: Any) -> Row | None:
    """Convert Anthropic usage, whose input_tokens excludes cache reads and writes."""
    if usage is None or (
        field(usage, "input_tokens") is None and field(usage, "output_tokens") is None
    ):
        return None
    cache_read = count(usage, "cache_read_input_tokens")
    cache_write = count(usage, "cache_creation_input_tokens")
    output_tokens = count(usage, "output_tokens")
    thinking = count(field(usage, "output_tokens_details"), "thinking_tokens")
    return (
        count(usage, "input_tokens") + cache_read + cache_write,
        output_tokens,
        cache_read,
        cache_write,
        min(thinking, output_tokens),
        1,
    )


ANTHROPIC_FIELDS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
)


class StreamUsage:
    """Usage and model collected from the events of one streamed call."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.model: str | None = None
        self.row: Row | None = None
        self.anthropic: dict[str, Any] = {}

    def observe(self, event: Any) -> None:
        if self.provider == "anthropic":
            self.observe_anthropic(event)
        else:
            self.observe_openai(event)

    def observe_openai(self, event: Any) -> None:
        # Chat Completions: the usage chunk comes last, and only with include_usage.
        usage = field(event, "usage")
        if usage is not None:
            self.model = field(event, "model") or self.model
            self.row = openai_row(usage) or self.row
            return

        # Responses API: the final response.completed (or .incomplete, .failed) event.
        response = field(event, "response")
        if response is not None and field(response, "usage") is not None:
            self.model = field(response, "model") or self.model
            self.row = openai_row(field(response, "usage")) or self.row
        elif self.model is None:
            self.model = field(event, "model")

    def observe_anthropic(self, event: Any) -> None:
        kind = field(event, "type")
        if kind == "message_start":
            message = field(event, "message")
            self.model = field(message, "model") or self.model
            self.merge_anthropic(field(message, "usage"))
        elif kind == "message_delta":
            # message_delta carries cumulative counts, so later values replace earlier ones.
            self.merge_anthropic(field(event, "usage"))

    def merge_anthropic(self, usage: Any) -> None:
        if usage is None:
            return
        for name in ANTHROPIC_FIELDS:
            value = field(usage, name)
            if value is not None:
                self.anthropic[name] = value
        details = field(usage, "output_tokens_details")
        if details is not None:
            self.anthropic["output_tokens_details"] = details
        self.row = anthropic_row(self.anthropic)
