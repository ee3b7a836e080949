-- Keep the detector's and the runner protocol's tables bounded: detector runs for a week,
-- Langfuse deliveries for 30 days, ended episodes, daily cost totals and finished runner
-- commands for 400 days (the longest plan's retention, plus a margin). A command
-- delivered a day ago or earlier that still has no result is failed: no runner polls for
-- it any more. So is one queued a day ago or earlier and never delivered: a restart
-- decided a day ago no longer fits the agent's state.
WITH runs AS (
    DELETE FROM detector_runs WHERE started_at < %(now)s - interval '7 days'
),
episodes AS (
    DELETE FROM detector_episodes WHERE ended_at < %(now)s - interval '400 days'
),
deliveries AS (
    DELETE FROM langfuse_deliveries WHERE received_at < %(now)s - interval '30 days'
),
unanswered AS (
    UPDATE restart_commands
    SET status = 'failed', completed_at = %(now)s,
        result = CASE status
            WHEN 'delivered' THEN 'no result from a runner within a day of its delivery'
            ELSE 'no runner polled for it within a day' END
    WHERE (status = 'delivered' AND delivered_at < %(now)s - interval '1 day')
       OR (status = 'pending' AND created_at < %(now)s - interval '1 day')
),
finished AS (
    DELETE FROM restart_commands
    WHERE status IN ('completed', 'failed', 'rejected')
      AND completed_at < %(now)s - interval '400 days'
)
DELETE FROM detector_daily_costs WHERE day < (%(now)s - interval '400 days')::date
