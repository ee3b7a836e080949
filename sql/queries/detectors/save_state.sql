UPDATE detector_state
SET last_cycle_at = %(last_cycle_at)s,
    resumed_at = %(resumed_at)s,
    cost_counted_through = %(cost_counted_through)s
