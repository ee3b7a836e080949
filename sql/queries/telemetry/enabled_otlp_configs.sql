-- The projects whose metrics the exporter thread pushes, with their endpoints.
SELECT c.project_id, p.name AS project, c.endpoint, c.updated_at
FROM otel_configs c
JOIN projects p ON p.id = c.project_id
WHERE c.enabled AND c.format = 'otlp' AND c.endpoint IS NOT NULL
ORDER BY c.project_id
