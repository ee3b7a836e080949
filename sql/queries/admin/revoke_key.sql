UPDATE api_keys SET revoked_at = now()
WHERE project_id = %(project_id)s AND (id::text = %(key)s OR prefix = %(key)s) AND revoked_at IS NULL
RETURNING id, prefix
