"""The LangChain callback handler with the real langchain-core."""

from __future__ import annotations

import pytest
from conftest import captured, usage_of

import clevagent

pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import (  # noqa: E402
    FakeMessagesListChatModel,
)
from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from clevagent.integrations.langchain import ClevAgentCallbackHandler  # noqa: E402


@tool
def search(query: str, limit: int) -> str:
    """Search the archive."""
    return f"{limit} results for {query}"


def answer() -> AIMessage:
    return AIMessage(
        content="hi",
        usage_metadata={"input_tokens": 120, "output_tokens": 30, "total_tokens": 150,
                        "input_token_details": {"cache_read": 100},
                        "output_token_details": {"reasoning": 10}},
        response_metadata={"model_name": "gemini-2.0-flash"},
    )


def test_handler_reports_tokens_tools_and_prompts(closed_endpoint: str) -> None:
    clevagent.init(api_key="cv_test", agent="graph", endpoint=closed_endpoint)
    handler = ClevAgentCallbackHandler()
    model = FakeMessagesListChatModel(responses=[answer()])

    model.invoke("Plan the day", config={"callbacks": [handler]})
    search.invoke({"query": "q3", "limit": 5}, config={"callbacks": [handler]})

    fields = captured()
    row = usage_of(fields, "gemini-2.0-flash")
    assert (row["input_tokens"], row["output_tokens"]) == (120, 30)
    assert (row["cached_tokens"], row["reasoning_tokens"]) == (100, 10)
    assert fields["tokens_used"] == 150
    assert fields["tool_calls"] == 1
    assert len(fields["fingerprints"]) == 2


def test_handler_leaves_openai_models_to_auto_cost() -> None:
    from clevagent.integrations.langchain import _provider_of

    serialized = {"id": ["langchain", "chat_models", "openai", "ChatOpenAI"]}

    assert _provider_of(serialized) == "openai"
    assert _provider_of({"id": ["langchain_anthropic", "ChatAnthropic"]}) == "anthropic"
    assert _provider_of({}) == "langchain"
