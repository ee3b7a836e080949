SELECT k.id, k.prefix, k.name, k.created_at, k.last_used_at, k.revoked_at
FROM api_keys AS k
WHERE k.project_id = %(project_id)s
ORDER BY k.id
