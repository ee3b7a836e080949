SELECT heartbeats_table FROM plans ORDER BY heartbeats_table
