-- Record the outcome of one export attempt. Parameters: project_id, error (NULL on success).
UPDATE otel_configs
SET last_export_at = now(), last_export_error = %(error)s
WHERE project_id = %(project_id)s
