-- State of the detector cycle, shared by both database flavours: its own heartbeat
-- (detector_runs), the episodes it opened, the per-agent results it carries between
-- cycles, and the running daily cost totals that budgets are checked against.

-- One row per cycle, written at its end. A stalled detector shows as a growing gap since
-- the newest started_at; a failing one as rows whose error is set.
CREATE TABLE detector_runs (
    id               bigserial PRIMARY KEY,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    duration_seconds double precision,
    agents_checked   integer,
    events_written   integer,
    error            text
);
CREATE INDEX detector_runs_started_at_idx ON detector_runs (started_at);

-- A single row. last_cycle_at tells the next cycle whether the detector itself was down
-- (then resumed_at moves to that cycle, and silence before it is not held against
-- agents). cost_counted_through is the watermark up to which heartbeats are summed into
-- detector_daily_costs.
CREATE TABLE detector_state (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_cycle_at        timestamptz,
    resumed_at           timestamptz,
    cost_counted_through timestamptz,
    maintained_at        timestamptz
);
INSERT INTO detector_state DEFAULT VALUES;

-- An episode lasts from the cycle that saw a condition start to the cycle that saw it end.
-- Events, warnings and queued commands are written once per episode, and the partial
-- unique index keeps a second open episode of the same kind from existing, even if two
-- cycles ever ran at once. Project-wide episodes have no agent_id.
CREATE TABLE detector_episodes (
    id           bigserial PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    agent_id     bigint REFERENCES agents (id) ON DELETE CASCADE,
    kind         text NOT NULL
                 CHECK (kind IN ('loop', 'no_progress', 'budget_agent', 'budget_project')),
    signal       text NOT NULL,
    value        double precision,
    threshold    double precision,
    details      jsonb,
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE UNIQUE INDEX detector_episodes_open_idx
    ON detector_episodes (project_id, COALESCE(agent_id, 0), kind) WHERE ended_at IS NULL;
CREATE INDEX detector_episodes_agent_idx ON detector_episodes (agent_id, started_at);

-- Loop signals that are only re-evaluated when an agent sends new heartbeats (repeated
-- messages or fingerprints, token spikes). A row exists only while one of them fires.
CREATE TABLE detector_agent_signals (
    agent_id   bigint PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    repetition jsonb,
    spike      jsonb
);

-- Cost per agent and day, the day taken in the project's budget timezone. The cycle adds
-- the heartbeats received since the watermark instead of summing the whole day again, so
-- its cost does not grow with the history already stored.
CREATE TABLE detector_daily_costs (
    agent_id            bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    day                 date NOT NULL,
    project_id          bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    cost_usd            double precision NOT NULL DEFAULT 0,
    tokens_used         bigint NOT NULL DEFAULT 0,
    unpriced_calls      bigint NOT NULL DEFAULT 0,
    unknown_usage_calls bigint NOT NULL DEFAULT 0,
    heartbeats          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, day)
);
CREATE INDEX detector_daily_costs_project_day_idx ON detector_daily_costs (project_id, day);

-- The project's budget timezone if PostgreSQL knows it, else UTC, so that one bad name
-- cannot fail every cycle. Cheaper per call than a lookup in pg_timezone_names.
CREATE FUNCTION detector_timezone(name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE name;
    RETURN name;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN 'UTC';
END
$$;
