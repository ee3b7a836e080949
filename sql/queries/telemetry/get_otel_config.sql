-- A project's export settings. Parameters: project_id.
SELECT project_id, enabled, format, endpoint, updated_at, last_export_at, last_export_error
FROM otel_configs
WHERE project_id = %(project_id)s
