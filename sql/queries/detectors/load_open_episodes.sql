SELECT id, project_id, agent_id, kind, signal, value, threshold, details, started_at,
       last_seen_at
FROM detector_episodes
WHERE ended_at IS NULL
