UPDATE agents SET registered = true WHERE project_id = %(project_id)s AND NOT registered
