INSERT INTO detector_runs (
    started_at, finished_at, duration_seconds, agents_checked, events_written, error
)
VALUES (
    %(started_at)s, %(finished_at)s, %(duration_seconds)s, %(agents_checked)s,
    %(events_written)s, %(error)s
)
