"""`clevagent serve`: the API and the detector cycle in one process."""

import logging
import os

import uvicorn
from fastapi import FastAPI

from clevagent_server.db import database
from clevagent_server.db.migrate import migrate
from clevagent_server.ingest.app import create_app

logger = logging.getLogger(__name__)


def prepare_database(url: str) -> None:
    """Apply pending migrations and make sure today's heartbeat partitions exist."""
    applied = migrate(url)
    if applied:
        logger.info("applied %d migrations", len(applied))
    with database.connect(url, autocommit=True) as conn:
        conn.execute("SELECT ensure_heartbeat_partitions(current_date - 1, current_date + 2)")


def app_from_environment() -> FastAPI:
    """Build the app for uvicorn worker processes, which receive the URL by environment."""
    return create_app(os.environ["CLEVAGENT_DATABASE_URL"])


def run(url: str, host: str, port: int, workers: int, log_level: str) -> None:
    prepare_database(url)
    logger.info("serving the API on http://%s:%d", host, port)
    if workers > 1:
        os.environ["CLEVAGENT_DATABASE_URL"] = url
        uvicorn.run(
            "clevagent_server.serve:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level.lower(),
            access_log=False,
        )
    else:
        uvicorn.run(
            create_app(url), host=host, port=port, log_level=log_level.lower(), access_log=False
        )
