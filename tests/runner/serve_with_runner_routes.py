"""Serve the API with the runner routers included, for builds whose app does not yet
register them. Usage: serve_with_runner_routes.py DATABASE_URL PORT"""

import sys

import uvicorn

from clevagent_server.ingest import commands, events
from clevagent_server.ingest.app import create_app

app = create_app(sys.argv[1])
paths = {getattr(route, "path", "") for route in app.routes}
if "/api/v1/commands" not in paths:
    app.include_router(commands.router)
if "/api/v1/events" not in paths:
    app.include_router(events.router)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
