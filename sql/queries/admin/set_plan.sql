UPDATE projects SET plan = %(plan)s WHERE id = %(project_id)s
