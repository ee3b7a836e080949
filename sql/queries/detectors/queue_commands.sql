-- Queue restart and stop commands for the runner, returning their ids in input order.
INSERT INTO restart_commands (project_id, agent_id, action, type, target, reason, created_at)
SELECT u.project_id, u.agent_id, u.action, u.type, u.target, u.reason, %(now)s
FROM unnest(
    %(project_id)s::bigint[], %(agent_id)s::bigint[], %(action)s::text[], %(type)s::text[],
    %(target)s::text[], %(reason)s::text[]
) WITH ORDINALITY AS u (project_id, agent_id, action, type, target, reason, position)
ORDER BY u.position
RETURNING id
