-- Apply status decisions. A decision is skipped when the agent's status changed since
-- the cycle read it. A decision based on silence (dead, late, stopped) is also skipped
-- when a heartbeat arrived meanwhile, so a late read never marks a live agent dead; the
-- next cycle judges that heartbeat. Other decisions (healthy, or degraded by a loop, a
-- budget or no progress) stand, and the next cycle corrects one that a newer heartbeat
-- changed. Skipping them too would delay the status of agents that send often by many
-- cycles, because their heartbeats keep arriving while a cycle runs.
UPDATE agents AS a
SET status = u.status,
    status_reason = u.reason,
    status_changed_at = CASE WHEN a.status <> u.status THEN %(now)s ELSE a.status_changed_at END
FROM unnest(
    %(agent_id)s::bigint[], %(old_status)s::text[], %(seen_heartbeat_at)s::timestamptz[],
    %(status)s::text[], %(reason)s::text[]
) AS u (agent_id, old_status, seen_heartbeat_at, status, reason)
WHERE a.id = u.agent_id
  AND a.status = u.old_status
  AND (a.last_heartbeat_at IS NOT DISTINCT FROM u.seen_heartbeat_at
       OR (u.status IN ('healthy', 'degraded') AND coalesce(u.reason, '') NOT LIKE 'late%%'))
RETURNING a.id
