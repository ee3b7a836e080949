UPDATE projects SET strict_mode = %(strict_mode)s WHERE id = %(project_id)s
