-- Hand the project's pending runner commands to a runner and mark them delivered.
-- Parameters: project_id; agents (text[] or NULL): only commands of these agents, plus
-- commands that name no agent; limit.
-- SKIP LOCKED keeps two runners polling at once from receiving the same command.
WITH picked AS (
    SELECT c.id
    FROM restart_commands c
    LEFT JOIN agents a ON a.id = c.agent_id
    WHERE c.project_id = %(project_id)s
      AND c.status = 'pending'
      AND (%(agents)s::text[] IS NULL OR a.id IS NULL OR a.name = ANY(%(agents)s::text[]))
    ORDER BY c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
)
UPDATE restart_commands c
SET status = 'delivered', delivered_at = now()
FROM picked
WHERE c.id = picked.id
RETURNING c.id, c.action, c.type, c.target,
          (SELECT a.name FROM agents a WHERE a.id = c.agent_id) AS agent, c.reason
