"""Request and response bodies of the heartbeat API.

Field names and limits follow the hosted product. The extension fields (usage,
fingerprints, instance_id, seq, busy_seconds, restart_*) are optional, so clients written
for the hosted API keep working unchanged.
"""

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from clevagent_server.ingest.text import clean_text, truncate

MAX_MESSAGE_CHARS = 2000
MAX_BATCH_ITEMS = 100
MAX_FINGERPRINTS = 1000
# Counters are bounded so that a stray value cannot overflow a bigint column or a sum
# over a year of heartbeats. Tool calls and LLM calls are stored in integer columns, and
# the calls of up to 100 usage entries are added up into one.
MAX_COUNT = 10**12
MAX_TOOL_CALLS = 2**31 - 1
MAX_CALLS_PER_MODEL = 10**7
MAX_COST_USD = 1e7

AGENT_NAME_RULE = (
    "agent must be 1 to 128 characters, with no control characters and no leading or "
    "trailing spaces"
)


def _check_agent_name(name: str) -> str:
    if not name or len(name) > 128 or name != name.strip() or not name.isprintable():
        raise ValueError(AGENT_NAME_RULE)
    return name


def _check_finite(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value + 0.0  # -0.0 becomes 0.0


def _in_utc(value: datetime | None) -> datetime | None:
    """Return the time in UTC, reading a time without an offset as UTC.

    PostgreSQL accepts offsets up to 15:59 and Python up to 23:59, so every time is
    stored as UTC.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from error


Text = Annotated[str, BeforeValidator(clean_text)]
# Names are identifiers, so a NUL or a lone surrogate in one is a 422 rather than removed:
# cleaning would merge distinct names into one agent.
AgentName = Annotated[
    str,
    AfterValidator(_check_agent_name),
    Field(json_schema_extra={"minLength": 1, "maxLength": 128}),
]
# Strict: JSON true or "12" is an error, not 1 or 12 tokens.
Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
ToolCalls = Annotated[int, Field(ge=0, le=MAX_TOOL_CALLS, strict=True)]
Calls = Annotated[int, Field(ge=0, le=MAX_CALLS_PER_MODEL, strict=True)]
Identifier = Annotated[str, BeforeValidator(clean_text), Field(min_length=1, max_length=200)]
CostUsd = Annotated[
    float, Field(ge=0, le=MAX_COST_USD, allow_inf_nan=False), AfterValidator(_check_finite)
]
MemoryMb = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False), AfterValidator(_check_finite)]
BusySeconds = Annotated[
    float, Field(ge=0, le=7 * 86400, allow_inf_nan=False), AfterValidator(_check_finite)
]
Fingerprint = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-fA-F]+$")]


class ModelUsage(BaseModel):
    """Token usage of LLM calls to one model since the previous heartbeat."""

    model_config = ConfigDict(extra="ignore")

    provider: Annotated[Text, Field(max_length=64)] | None = None
    model: Identifier
    input_tokens: Count = 0
    output_tokens: Count = 0
    cached_tokens: Count = 0
    cache_write_tokens: Count = 0
    reasoning_tokens: Count = 0
    calls: Calls = 1


class Heartbeat(BaseModel):
    """One heartbeat: liveness, counters since the previous heartbeat, and context."""

    model_config = ConfigDict(extra="ignore")

    agent: AgentName
    status: Literal["ok", "warning", "error", "shutdown"] = "ok"
    message: Text | None = None
    tokens_used: Count | None = None
    cost_usd: CostUsd | None = None
    tool_calls: ToolCalls | None = None
    iteration_count: Count | None = None
    memory_mb: MemoryMb | None = None
    agent_type: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    timestamp: Annotated[datetime | None, AfterValidator(_in_utc)] = None

    instance_id: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    seq: Count | None = None
    usage: Annotated[list[ModelUsage], Field(max_length=100)] | None = None
    unknown_usage_calls: Calls | None = None
    fingerprints: Annotated[list[Fingerprint], Field(max_length=MAX_FINGERPRINTS)] | None = None
    busy_seconds: BusySeconds | None = None
    busy_reason: Annotated[Text, Field(max_length=200)] | None = None
    restart_type: Literal["docker", "systemd", "launchd", "process", "k8s"] | None = None
    restart_target: Annotated[Text, Field(min_length=1, max_length=500)] | None = None
    source: Literal["sdk", "runner", "api"] = "api"

    def truncated_message(self) -> tuple[str | None, bool]:
        """Return the message cut to MAX_MESSAGE_CHARS, and whether it was cut."""
        if self.message is None:
            return None, False
        return truncate(self.message, MAX_MESSAGE_CHARS)


class HeartbeatBatch(BaseModel):
    """The batch envelope. Items are validated one by one so a bad item fails alone."""

    # Items are typed Any so that the envelope accepts any item, and the JSON schema
    # documents each as a Heartbeat.
    heartbeats: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_BATCH_ITEMS),
        WithJsonSchema(
            {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Heartbeat"},
                "minItems": 1,
                "maxItems": MAX_BATCH_ITEMS,
            }
        ),
    ]


class Warning(BaseModel):
    """An active detector episode, as the detectors stored it on the agent.

    Extra keys the detectors add (such as the agent's action policy) pass through.
    """

    model_config = ConfigDict(extra="allow")

    type: str
    signal: str | None = None
    value: float | None = None
    threshold: float | None = None
    message: str | None = None


class HeartbeatResponse(BaseModel):
    received: bool
    agent_id: int
    status: Literal["unknown", "healthy", "degraded", "dead"]
    duplicate: bool = False
    message_truncated: bool = False
    min_interval_seconds: int
    warning: Warning | None = None


class BatchItemResult(BaseModel):
    index: int
    agent: str | None = None
    received: bool
    agent_id: int | None = None
    status: str | None = None
    duplicate: bool = False
    message_truncated: bool = False
    warning: Warning | None = None
    error: dict[str, Any] | None = None


class BatchResponse(BaseModel):
    received: int
    min_interval_seconds: int
    results: list[BatchItemResult]


class AgentStatus(BaseModel):
    id: int
    name: str
    status: str
    status_reason: str | None
    last_heartbeat_at: datetime | None
    agent_type: str
    tokens_today: int
    cost_usd_today: float


class StatusSummary(BaseModel):
    total: int
    healthy: int
    degraded: int
    dead: int
    unknown: int


class StatusResponse(BaseModel):
    project: str
    agents: list[AgentStatus]
    summary: StatusSummary
