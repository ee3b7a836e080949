INSERT INTO projects (name, plan, strict_mode, budget_timezone, daily_budget_usd)
VALUES (%(name)s, %(plan)s, %(strict_mode)s, %(budget_timezone)s, %(daily_budget_usd)s)
RETURNING id
