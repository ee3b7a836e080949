UPDATE detector_state SET maintained_at = %(now)s
