-- Telemetry out: the per-project OTLP export settings, the Langfuse webhook log, and the
-- cumulative per-agent totals behind the Prometheus and OTLP counters.
--
-- Heartbeats and events expire, but a counter must never go down. The totals therefore
-- have two parts: rows older than a watermark are folded into the *_totals tables, and
-- readers add the rows at or after the watermark (the "live" part) at read time, in the
-- same statement. fold_telemetry_totals() moves the watermark forward; it lags now() by
-- a margin so that a transaction that started before the watermark but commits after it
-- still has its rows counted.

CREATE TABLE otel_configs (
    project_id        bigint PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    enabled           boolean NOT NULL,
    format            text NOT NULL CHECK (format IN ('otlp', 'prometheus')),
    endpoint          text CHECK (endpoint IS NULL OR length(endpoint) <= 2048),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Written by the exporter thread after each attempt, so the API can show it.
    last_export_at    timestamptz,
    last_export_error text,
    CHECK (NOT enabled OR format <> 'otlp' OR endpoint IS NOT NULL)
);

-- Every delivery of the Langfuse webhook, error or not. The detector cycle's maintenance
-- deletes them after 30 days.
CREATE TABLE langfuse_deliveries (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    agent_id    bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    status      text NOT NULL,
    trace_id    text,
    message     text,
    event_id    bigint,
    command_id  bigint
);
CREATE INDEX langfuse_deliveries_agent_idx ON langfuse_deliveries (agent_id, received_at);

-- One row: everything with time < folded_before is in the *_totals tables.
CREATE TABLE telemetry_watermark (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    folded_before timestamptz NOT NULL
);
INSERT INTO telemetry_watermark (folded_before) VALUES ('-infinity');

CREATE TABLE agent_counter_totals (
    agent_id      bigint PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    heartbeats    bigint NOT NULL DEFAULT 0,
    tokens        bigint NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      double precision NOT NULL DEFAULT 0
);

-- Token usage by provider and model, from the heartbeats' usage lists. A usage item
-- without a provider is stored under provider ''.
CREATE TABLE agent_usage_totals (
    agent_id           bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    provider           text NOT NULL,
    model              text NOT NULL,
    input_tokens       bigint NOT NULL DEFAULT 0,
    output_tokens      bigint NOT NULL DEFAULT 0,
    cached_tokens      bigint NOT NULL DEFAULT 0,
    cache_write_tokens bigint NOT NULL DEFAULT 0,
    reasoning_tokens   bigint NOT NULL DEFAULT 0,
    calls              bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, provider, model)
);

-- Counts of the agent_events types that telemetry exports as counters.
CREATE TABLE agent_event_totals (
    agent_id bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    type     text NOT NULL,
    signal   text NOT NULL,
    events   bigint NOT NULL,
    PRIMARY KEY (agent_id, type, signal)
);

-- The event types counted by agent_event_totals and the live part of the readers.
CREATE FUNCTION telemetry_counted_event_types() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['loop_started', 'restart_queued', 'restart_attempt', 'restart_succeeded',
                 'restart_failed', 'langfuse_error']
$$;

-- Fold the heartbeats and events in [folded_before, now() - margin) into the totals and
-- move the watermark. Returns the watermark in force afterwards. The row lock on the
-- watermark serialises concurrent callers (several replicas), and the half-open window
-- counts each row exactly once. Rows of deleted agents are skipped.
CREATE FUNCTION fold_telemetry_totals(margin interval DEFAULT interval '5 minutes')
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    window_start timestamptz;
    window_end   timestamptz := now() - margin;
BEGIN
    SELECT folded_before INTO window_start FROM telemetry_watermark FOR UPDATE;
    IF window_end <= window_start THEN
        RETURN window_start;
    END IF;

    INSERT INTO agent_counter_totals AS t
           (agent_id, heartbeats, tokens, input_tokens, output_tokens, cost_usd)
    SELECT h.agent_id, count(*), coalesce(sum(h.tokens_used), 0),
           coalesce(sum(h.input_tokens), 0), coalesce(sum(h.output_tokens), 0),
           coalesce(sum(h.cost_usd), 0)
    FROM heartbeats h
    JOIN agents a ON a.id = h.agent_id
    WHERE h.time >= window_start AND h.time < window_end
    GROUP BY h.agent_id
    ON CONFLICT (agent_id) DO UPDATE SET
        heartbeats    = t.heartbeats + EXCLUDED.heartbeats,
        tokens        = t.tokens + EXCLUDED.tokens,
        input_tokens  = t.input_tokens + EXCLUDED.input_tokens,
        output_tokens = t.output_tokens + EXCLUDED.output_tokens,
        cost_usd      = t.cost_usd + EXCLUDED.cost_usd;

    INSERT INTO agent_usage_totals AS t
           (agent_id, provider, model, input_tokens, output_tokens, cached_tokens,
            cache_write_tokens, reasoning_tokens, calls)
    SELECT h.agent_id, coalesce(u.provider, ''), u.model,
           coalesce(sum(u.input_tokens), 0), coalesce(sum(u.output_tokens), 0),
           coalesce(sum(u.cached_tokens), 0), coalesce(sum(u.cache_write_tokens), 0),
           coalesce(sum(u.reasoning_tokens), 0), coalesce(sum(u.calls), 0)
    FROM heartbeats h
    JOIN agents a ON a.id = h.agent_id
    CROSS JOIN LATERAL jsonb_to_recordset(
        CASE WHEN jsonb_typeof(h.usage) = 'array' THEN h.usage ELSE '[]'::jsonb END
    ) AS u(provider text, model text, input_tokens bigint, output_tokens bigint,
           cached_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint,
           calls bigint)
    WHERE h.time >= window_start AND h.time < window_end AND u.model IS NOT NULL
    GROUP BY h.agent_id, coalesce(u.provider, ''), u.model
    ON CONFLICT (agent_id, provider, model) DO UPDATE SET
        input_tokens       = t.input_tokens + EXCLUDED.input_tokens,
        output_tokens      = t.output_tokens + EXCLUDED.output_tokens,
        cached_tokens      = t.cached_tokens + EXCLUDED.cached_tokens,
        cache_write_tokens = t.cache_write_tokens + EXCLUDED.cache_write_tokens,
        reasoning_tokens   = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
        calls              = t.calls + EXCLUDED.calls;

    INSERT INTO agent_event_totals AS t (agent_id, type, signal, events)
    SELECT e.agent_id, e.type, coalesce(e.signal, ''), count(*)
    FROM agent_events e
    JOIN agents a ON a.id = e.agent_id
    WHERE e.time >= window_start AND e.time < window_end
      AND e.type = ANY (telemetry_counted_event_types())
    GROUP BY e.agent_id, e.type, coalesce(e.signal, '')
    ON CONFLICT (agent_id, type, signal) DO UPDATE SET events = t.events + EXCLUDED.events;

    UPDATE telemetry_watermark SET folded_before = window_end;
    RETURN window_end;
END
$$;
