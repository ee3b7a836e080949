"""LangChain and LangGraph callback handler reporting tokens, tool calls and iterations.

Usage::

    from clevagent.integrations.langchain import ClevAgentCallbackHandler
    graph.invoke(state, config={"callbacks": [ClevAgentCallbackHandler()]})

Needs langchain-core (the `langchain` extra of clevagent-sdk). Calls of ChatOpenAI and
ChatAnthropic already reach auto_cost through the openai and anthropic libraries, so
while auto_cost is on the handler leaves their tokens to it and counts nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

import clevagent
from clevagent.autocost._usage import field

logger = logging.getLogger("clevagent")

# Chat model classes whose calls go through a library that auto_cost wraps.
AUTO_COST_PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}


class ClevAgentCallbackHandler(BaseCallbackHandler):
    """Report LLM token usage, tool calls, prompts and iterations to the SDK.

    Every callback is guarded: an error here is logged at debug level and never
    reaches the chain.
    """

    raise_error = False

    def __init__(self) -> None:
        self.providers: dict[UUID, str] = {}

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        self._guard(self._start_model, serialized, run_id,
                    [str(field(m, "content")) for batch in messages for m in batch[-1:]])

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *,
                     run_id: UUID, **kwargs: Any) -> None:
        self._guard(self._start_model, serialized, run_id, prompts)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self._guard(self._end_model, response, run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.providers.pop(run_id, None)

    def on_tool_start(self, serialized: dict[str, Any], input_str: str, *,
                      inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        self._guard(clevagent.log_tool_call, str(name), inputs if inputs is not None else input_str)

    def on_agent_action(self, action: Any, **kwargs: Any) -> None:
        self._guard(clevagent.log_iteration)

    def on_chain_start(self, serialized: dict[str, Any], inputs: Any, *,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        # LangGraph numbers its supersteps; a step that stops advancing is a stuck graph.
        step = (metadata or {}).get("langgraph_step")
        if isinstance(step, int) and not isinstance(step, bool) and step >= 0:
            self._guard(_advance_iteration, step)

    def _start_model(self, serialized: dict[str, Any], run_id: UUID, prompts: list[str]) -> None:
        self.providers[run_id] = _provider_of(serialized)
        for prompt in prompts:
            clevagent.log_prompt(prompt)

    def _end_model(self, response: LLMResult, run_id: UUID) -> None:
        provider = self.providers.pop(run_id, "langchain")
        client = clevagent._current()
        if client is None:
            return
        if client.config.auto_cost and provider in AUTO_COST_PROVIDERS.values():
            return

        for row, model in _usage_rows(response):
            client.state.inbox.append((provider, model, row))

    def _guard(self, function: Any, *args: Any) -> None:
        try:
            function(*args)
        except Exception:
            logger.debug("the LangChain callback %s failed", function, exc_info=True)


def _provider_of(serialized: dict[str, Any] | None) -> str:
    path = (serialized or {}).get("id") or []
    for part in path:
        for marker, provider in AUTO_COST_PROVIDERS.items():
            if marker in str(part).lower():
                return provider
    return str(path[-1]) if path else "langchain"


def _usage_rows(response: LLMResult) -> list[tuple[tuple[int, ...], str]]:
    """Return (usage row, model) for each generation that carries usage_metadata."""
    rows = []
    llm_output = response.llm_output or {}
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            usage = field(message, "usage_metadata")
            if not usage:
                continue
            metadata = field(message, "response_metadata") or {}
            model = (metadata.get("model_name") or metadata.get("model")
                     or llm_output.get("model_name") or "unknown")
            rows.append((_row(usage), str(model)))
    return rows


def _row(usage: Any) -> tuple[int, ...]:
    """Convert LangChain's usage_metadata, whose input_tokens already include cache reads
    and writes, as the wire format does."""
    input_details = field(usage, "input_token_details") or {}
    output_details = field(usage, "output_token_details") or {}
    return (
        int(field(usage, "input_tokens") or 0),
        int(field(usage, "output_tokens") or 0),
        int(field(input_details, "cache_read") or 0),
        int(field(input_details, "cache_creation") or 0),
        int(field(output_details, "reasoning") or 0),
        1,
    )


def _advance_iteration(step: int) -> None:
    client = clevagent._current()
    if client is None:
        return
    with client.state.lock:
        current = client.state.iteration
        if current is None or step > current:
            client.state.iteration = step
