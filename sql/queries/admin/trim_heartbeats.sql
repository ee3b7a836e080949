-- After a downgrade, the project's rows in its old plan's table that are older than the
-- new plan keeps are deleted once; the rest age out under the old table's policy.
DELETE FROM {table}
WHERE project_id = %(project_id)s AND time < now() - make_interval(days => %(retention_days)s)
