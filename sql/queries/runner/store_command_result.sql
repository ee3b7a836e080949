-- Store a runner's result for a command that has none yet. Parameters: id, project_id,
-- status, message. No row back means unknown, another project's, or already finished.
UPDATE restart_commands
SET status = %(status)s, result = %(message)s, completed_at = now(),
    delivered_at = COALESCE(delivered_at, now())
WHERE id = %(id)s AND project_id = %(project_id)s AND status IN ('pending', 'delivered')
RETURNING id
