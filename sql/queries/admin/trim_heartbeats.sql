-- After a downgrade, delete the project's rows in its old plan's table that the new plan
-- would not keep. The rest age out under the old table's retention.
DELETE FROM {table}
WHERE project_id = %(project_id)s AND time < now() - make_interval(days => %(retention_days)s)
