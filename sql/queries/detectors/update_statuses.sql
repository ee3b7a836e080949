-- Apply status decisions. A decision is skipped when the agent's status or latest
-- heartbeat changed since the cycle read it (a heartbeat that arrived meanwhile is judged
-- by the next cycle), so a late read never marks a live agent dead.
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
  AND a.last_heartbeat_at IS NOT DISTINCT FROM u.seen_heartbeat_at
RETURNING a.id
