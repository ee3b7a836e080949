-- Hand the project's runner commands to a runner and mark them delivered.
-- Parameters: project_id; agents (text[] or NULL): only commands of these agents, plus
-- commands that name no agent; limit; lease_seconds; max_deliveries.
-- A command is due when it is pending, or when it was delivered lease_seconds ago or
-- earlier without a result and fewer than max_deliveries times. One delivered that often
-- is failed instead. SKIP LOCKED keeps two runners polling at once from receiving the
-- same command.
WITH abandoned AS (
    UPDATE restart_commands
    SET status = 'failed', completed_at = now(),
        result = 'no result from a runner after ' || deliveries || ' deliveries'
    WHERE project_id = %(project_id)s
      AND status = 'delivered'
      AND deliveries >= %(max_deliveries)s
      AND delivered_at <= now() - make_interval(secs => %(lease_seconds)s)
),
picked AS (
    SELECT c.id
    FROM restart_commands c
    LEFT JOIN agents a ON a.id = c.agent_id
    WHERE c.project_id = %(project_id)s
      AND (c.status = 'pending' OR (
          c.status = 'delivered'
          AND c.deliveries < %(max_deliveries)s
          AND c.delivered_at <= now() - make_interval(secs => %(lease_seconds)s)))
      AND (%(agents)s::text[] IS NULL OR a.id IS NULL OR a.name = ANY(%(agents)s::text[]))
    ORDER BY c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
)
UPDATE restart_commands c
SET status = 'delivered', delivered_at = now(), deliveries = c.deliveries + 1
FROM picked
WHERE c.id = picked.id
RETURNING c.id, c.action, c.type, c.target,
          (SELECT a.name FROM agents a WHERE a.id = c.agent_id) AS agent, c.reason
