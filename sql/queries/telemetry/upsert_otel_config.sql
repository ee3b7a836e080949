-- Store a project's export settings. Parameters: project_id, enabled, format, endpoint.
INSERT INTO otel_configs (project_id, enabled, format, endpoint, updated_at)
VALUES (%(project_id)s, %(enabled)s, %(format)s, %(endpoint)s, now())
ON CONFLICT (project_id) DO UPDATE SET
    enabled           = EXCLUDED.enabled,
    format            = EXCLUDED.format,
    endpoint          = EXCLUDED.endpoint,
    updated_at        = EXCLUDED.updated_at,
    last_export_at    = NULL,
    last_export_error = NULL
RETURNING project_id, enabled, format, endpoint, updated_at, last_export_at, last_export_error
