SELECT p.name, p.budget_timezone,
       count(a.id),
       count(a.id) FILTER (WHERE a.status = 'healthy'),
       count(a.id) FILTER (WHERE a.status = 'degraded'),
       count(a.id) FILTER (WHERE a.status = 'dead'),
       count(a.id) FILTER (WHERE a.status = 'unknown')
FROM projects AS p
LEFT JOIN agents AS a ON a.project_id = p.id AND a.enabled
WHERE p.id = %(project_id)s
GROUP BY p.id
