INSERT INTO api_keys (project_id, key_hash, prefix, name)
VALUES (%(project_id)s, %(key_hash)s, %(prefix)s, %(name)s)
RETURNING id, created_at
