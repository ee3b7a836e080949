-- Every reader (the API, the detectors, Grafana) uses these two views, never a per-plan
-- table, so a project's change of plan is invisible to queries.

CREATE VIEW heartbeats AS
          SELECT 'free'::text AS plan, * FROM heartbeats_free
UNION ALL SELECT 'starter', * FROM heartbeats_starter
UNION ALL SELECT 'pro', * FROM heartbeats_pro
UNION ALL SELECT 'enterprise', * FROM heartbeats_enterprise;

CREATE VIEW heartbeats_1m AS
          SELECT 'free'::text AS plan, * FROM heartbeats_1m_free
UNION ALL SELECT 'starter', * FROM heartbeats_1m_starter
UNION ALL SELECT 'pro', * FROM heartbeats_1m_pro
UNION ALL SELECT 'enterprise', * FROM heartbeats_1m_enterprise;
