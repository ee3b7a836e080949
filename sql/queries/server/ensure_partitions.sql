SELECT ensure_heartbeat_partitions(current_date - 1, current_date + 2)
