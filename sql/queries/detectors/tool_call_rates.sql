-- Tool calls per agent received in the minute up to now.
SELECT agent_id, sum(tool_calls)::float8 AS tool_calls
FROM heartbeats
WHERE time > %(now)s - interval '1 minute' AND time <= %(now)s
GROUP BY agent_id
HAVING sum(tool_calls) > 0
