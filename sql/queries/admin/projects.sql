-- Projects with their plan's limits and counts of keys and agents. With %(project)s set,
-- only the project whose id or name it is.
SELECT p.id, p.name, p.plan, p.strict_mode, p.budget_timezone,
       p.daily_budget_usd::double precision AS daily_budget_usd, p.created_at,
       pl.rate_limit_per_minute, pl.retention_days, pl.min_interval_seconds,
       (SELECT count(*) FROM api_keys k WHERE k.project_id = p.id AND k.revoked_at IS NULL) AS active_keys,
       (SELECT count(*) FROM agents a WHERE a.project_id = p.id) AS agents
FROM projects AS p
JOIN plans AS pl ON pl.name = p.plan
WHERE %(project)s::text IS NULL OR p.name = %(project)s OR p.id::text = %(project)s
ORDER BY p.id
