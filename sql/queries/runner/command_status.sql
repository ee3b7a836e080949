-- The status of one of the project's commands. Parameters: id, project_id.
SELECT status FROM restart_commands WHERE id = %(id)s AND project_id = %(project_id)s
