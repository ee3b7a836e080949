-- A restart of the agent that is queued and not yet finished. Parameters: agent_id.
SELECT id
FROM restart_commands
WHERE agent_id = %(agent_id)s AND action = 'restart' AND status IN ('pending', 'delivered')
ORDER BY id
LIMIT 1
