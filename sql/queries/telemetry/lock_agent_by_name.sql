-- The agent a Langfuse delivery names, locked so that concurrent deliveries for the same
-- agent queue at most one restart. Parameters: project_id, name.
SELECT id, auto_restart, restart_type, restart_target
FROM agents
WHERE project_id = %(project_id)s AND name = %(name)s
FOR UPDATE
