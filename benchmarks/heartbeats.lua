-- wrk script for the ingest benchmark: POSTs SDK-like heartbeats, one per request or
-- in batches, and prints the run's numbers as one JSON line when wrk finishes.
--
-- Arguments (after `--` on the wrk command line):
--   1. items per request: 1 posts a single heartbeat, N > 1 posts {"heartbeats": [N items]}
--   2. number of distinct agent names to cycle through
--   3. API keys, comma-separated; requests rotate through them so that no key reaches
--      its plan's rate limit during the run
--   4. a tag unique to this wrk run, part of every instance_id, so that a later run
--      starting its sequence numbers at 1 again is not taken for a retry
--
-- Each wrk thread acts as its own SDK instance per agent, with a sequence number that
-- grows by one per heartbeat, so the server receives no duplicates.

local thread_count = 0

function setup(thread)
    thread_count = thread_count + 1
    thread:set("thread_index", thread_count)
end

local items_per_request
local agent_count
local api_keys = {}
local run_tag
local sequences = {}
local request_count = 0
local next_agent = 0
local timestamp_second = -1
local timestamp_text

function init(args)
    items_per_request = tonumber(args[1])
    agent_count = tonumber(args[2])
    for key in string.gmatch(args[3], "[^,]+") do
        table.insert(api_keys, key)
    end
    run_tag = args[4]
    -- Threads start on different agents so that they do not march in step.
    next_agent = ((thread_index or 1) - 1) * 7919 % agent_count
end

local function current_timestamp()
    local now = os.time()
    if now ~= timestamp_second then
        timestamp_second = now
        timestamp_text = os.date("!%Y-%m-%dT%H:%M:%SZ", now)
    end
    return timestamp_text
end

local function heartbeat_json(agent)
    local seq = (sequences[agent] or 0) + 1
    sequences[agent] = seq
    return string.format(
        '{"agent":"bench-agent-%d","status":"ok","source":"sdk",' ..
        '"instance_id":"%s-t%d-a%d","seq":%d,"timestamp":"%s",' ..
        '"tokens_used":%d,"cost_usd":%.6f,"tool_calls":%d,"iteration_count":%d,' ..
        '"memory_mb":%.1f,"agent_type":"benchmark"}',
        agent, run_tag, thread_index or 1, agent, seq, current_timestamp(),
        1200 + agent % 300, 0.0042 + (agent % 10) * 0.0001, agent % 5, seq, 150.5)
end

local function take_agent()
    local agent = next_agent
    next_agent = (next_agent + 1) % agent_count
    return agent
end

function request()
    request_count = request_count + 1
    local headers = {
        ["Content-Type"] = "application/json",
        ["X-API-Key"] = api_keys[request_count % #api_keys + 1],
    }
    if items_per_request == 1 then
        return wrk.format("POST", nil, headers, heartbeat_json(take_agent()))
    end

    local items = {}
    for i = 1, items_per_request do
        items[i] = heartbeat_json(take_agent())
    end
    local body = '{"heartbeats":[' .. table.concat(items, ",") .. ']}'
    return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,' ..
        '"latency_max_us":%d,"latency_mean_us":%.1f,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, latency.mean,
        errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
