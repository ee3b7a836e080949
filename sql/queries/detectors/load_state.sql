SELECT last_cycle_at, resumed_at, cost_counted_through, maintained_at
FROM detector_state
FOR UPDATE
