-- Core tables shared by both database flavours: plans, projects, API keys, agents,
-- events and the restart queue. Heartbeat storage is flavour-specific (0002).

CREATE TABLE plans (
    name                  text PRIMARY KEY,
    rate_limit_per_minute integer NOT NULL CHECK (rate_limit_per_minute > 0),
    retention_days        integer NOT NULL CHECK (retention_days > 0),
    min_interval_seconds  integer NOT NULL CHECK (min_interval_seconds > 0),
    heartbeats_table      text NOT NULL UNIQUE
);

-- Rate limits and retention are the hosted product's published numbers. The minimum
-- heartbeat intervals are this project's choice: the hosted docs only say they vary by plan.
INSERT INTO plans (name, rate_limit_per_minute, retention_days, min_interval_seconds, heartbeats_table)
VALUES ('free',         200,   7, 60, 'heartbeats_free'),
       ('starter',      500,  30, 30, 'heartbeats_starter'),
       ('pro',         1000,  90, 10, 'heartbeats_pro'),
       ('enterprise', 10000, 365,  5, 'heartbeats_enterprise');

CREATE TABLE projects (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    plan             text NOT NULL DEFAULT 'free' REFERENCES plans (name),
    strict_mode      boolean NOT NULL DEFAULT false,
    budget_timezone  text NOT NULL DEFAULT 'UTC',
    daily_budget_usd numeric(14, 6) CHECK (daily_budget_usd IS NULL OR daily_budget_usd >= 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- A key is "cv_" plus 32 random bytes in URL-safe base64. Only its SHA-256 is stored;
-- the prefix (first 10 characters) lets a person tell keys apart in listings.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key_hash     bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_project_idx ON api_keys (project_id);

CREATE TABLE agents (
    id                        bigserial PRIMARY KEY,
    project_id                bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                      text NOT NULL,
    agent_type                text NOT NULL DEFAULT 'generic',
    registered                boolean NOT NULL DEFAULT false,
    enabled                   boolean NOT NULL DEFAULT true,
    created_at                timestamptz NOT NULL DEFAULT now(),

    -- Per-agent thresholds and settings, with the hosted product's defaults.
    max_tool_calls_per_minute integer NOT NULL DEFAULT 10 CHECK (max_tool_calls_per_minute > 0),
    max_identical_messages    integer NOT NULL DEFAULT 5 CHECK (max_identical_messages > 1),
    token_spike_multiplier    double precision NOT NULL DEFAULT 3 CHECK (token_spike_multiplier > 1),
    daily_budget_usd          numeric(14, 6) CHECK (daily_budget_usd IS NULL OR daily_budget_usd >= 0),
    expected_interval_seconds integer NOT NULL DEFAULT 60 CHECK (expected_interval_seconds > 0),
    auto_restart              boolean NOT NULL DEFAULT false,
    on_loop                   text NOT NULL DEFAULT 'alert_only',
    on_cost_exceeded          text NOT NULL DEFAULT 'alert_only',
    restart_type              text,
    restart_target            text,

    -- What the latest heartbeat said, kept here so the detectors and the status API do
    -- not scan history. Times are the server's receive times.
    last_heartbeat_at         timestamptz,
    last_client_status        text,
    last_message              text,
    last_iteration            bigint,
    last_iteration_changed_at timestamptz,
    busy_until                timestamptz,
    busy_reason               text,

    -- Owned by the detectors: the current status, why, and the active warning (if any)
    -- that heartbeat responses carry back to the SDK.
    status                    text NOT NULL DEFAULT 'unknown'
                              CHECK (status IN ('unknown', 'healthy', 'degraded', 'dead')),
    status_reason             text,
    status_changed_at         timestamptz,
    warning                   jsonb,

    UNIQUE (project_id, name)
);

-- The highest sequence number stored per SDK instance, so a retried heartbeat whose
-- first attempt was stored (but whose response was lost) is not counted twice.
CREATE TABLE agent_instances (
    agent_id    bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    instance_id text NOT NULL,
    last_seq    bigint NOT NULL,
    last_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, instance_id)
);

CREATE TABLE agent_events (
    id         bigserial PRIMARY KEY,
    time       timestamptz NOT NULL DEFAULT now(),
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    agent_id   bigint REFERENCES agents (id) ON DELETE CASCADE,
    type       text NOT NULL,
    severity   text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    signal     text,
    value      double precision,
    threshold  double precision,
    message    text,
    details    jsonb
);
CREATE INDEX agent_events_time_idx ON agent_events (time);
CREATE INDEX agent_events_agent_time_idx ON agent_events (agent_id, time);

CREATE TABLE restart_commands (
    id           bigserial PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    agent_id     bigint REFERENCES agents (id) ON DELETE CASCADE,
    action       text NOT NULL DEFAULT 'restart' CHECK (action IN ('restart', 'stop')),
    type         text,
    target       text,
    reason       text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'delivered', 'completed', 'failed', 'rejected')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    completed_at timestamptz,
    result       text
);
CREATE INDEX restart_commands_pending_idx ON restart_commands (project_id) WHERE status IN ('pending', 'delivered');
