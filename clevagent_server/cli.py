"""The `clevagent` command: the server, migrations, projects, plans, keys and agents."""

import logging
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import psycopg
import typer

from clevagent_server import admin, serve
from clevagent_server.admin import AdminError
from clevagent_server.db import database
from clevagent_server.db.database import DatabaseUnavailable
from clevagent_server.db.migrate import MigrationError, migrate
from clevagent_server.db.migrate import status as migration_status
from clevagent_server.demo.cli import demo_command
from clevagent_server.grafana import cli as grafana_cli
from clevagent_server.output import emit

app = typer.Typer(
    help="ClevAgent: self-hosted monitoring for long-running AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations and access.", no_args_is_help=True)
project_app = typer.Typer(help="Projects, their plans and strict mode.", no_args_is_help=True)
key_app = typer.Typer(help="API keys of a project.", no_args_is_help=True)
agent_app = typer.Typer(help="Agents of a project.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(project_app, name="project")
app.add_typer(key_app, name="key")
app.add_typer(agent_app, name="agent")
app.add_typer(grafana_cli.app, name="grafana")
app.command("demo")(demo_command)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CLEVAGENT_DATABASE_URL",
        help="PostgreSQL URL. Without it, the embedded PostgreSQL in --data-dir is used.",
        show_envvar=True,
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="CLEVAGENT_DATA_DIR",
        help="Directory of the embedded PostgreSQL. [default: the user's data directory]",
        show_envvar=True,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ProjectArg = Annotated[str, typer.Argument(help="Project name or id.")]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause or fix into one line on stderr and exit status 1."""
    try:
        yield
    except (AdminError, MigrationError, DatabaseUnavailable) as error:
        fail(str(error))
    except psycopg.errors.UndefinedTable:
        fail("the database has no ClevAgent schema yet; run `clevagent db migrate` first")
    except psycopg.OperationalError as error:
        fail(f"database error: {error}")
    except BrokenPipeError:
        # The reader of our output went away (`| head`); the work itself is committed.
        raise typer.Exit(1) from None
    except OSError as error:
        # For example a --data-dir that is a file, or a directory that cannot be created.
        fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))


@contextmanager
def connection(database_url: str | None, data_dir: Path | None) -> Iterator[psycopg.Connection]:
    with user_errors():
        url = database.resolve_url(database_url, data_dir)
        # Autocommit: each admin operation commits its own transaction before its result
        # is printed, so output that fails to print (a closed pipe) loses no change.
        with database.connect(url, autocommit=True) as conn:
            yield conn


def run_admin(
    database_url: str | None,
    data_dir: Path | None,
    action: Callable[[psycopg.Connection], Any],
    as_json: bool,
    columns: list[str] | None = None,
) -> None:
    with connection(database_url, data_dir) as conn, user_errors():
        emit(action(conn), as_json, columns)


@app.command("serve")
def serve_command(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Number of API worker processes.")] = 1,
    detectors: Annotated[
        bool, typer.Option(help="Run the detector cycle in this process too.")
    ] = True,
    detector_interval: Annotated[
        float, typer.Option(min=0.5, help="Seconds between detector cycles.")
    ] = 10.0,
    otel_interval: Annotated[
        float, typer.Option(min=1, help="Seconds between OTLP exports of each project.")
    ] = 60.0,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    metrics_token: Annotated[
        str | None,
        typer.Option(
            envvar="CLEVAGENT_METRICS_TOKEN",
            show_envvar=True,
            help="Require this bearer token on GET /metrics. Prefer the environment "
            "variable: other users can read a process's arguments.",
        ),
    ] = None,
) -> None:
    """Run the API and the detector cycle, migrating the database first."""
    _configure_logging(log_level)
    options = serve.ServeOptions(
        host,
        port,
        workers,
        log_level,
        detectors,
        detector_interval,
        otel_interval,
        metrics_token=metrics_token or None,
    )
    with user_errors():
        url = database.resolve_url(database_url, data_dir)
        serve.run(url, options)


@app.command("detect")
def detect_command(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between cycles.")] = 10.0,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run only the detector cycle, for deployments that scale it apart from the API."""
    _configure_logging(log_level)
    with user_errors():
        url = database.resolve_url(database_url, data_dir)
        serve.detect(url, interval)


@db_app.command("migrate")
def db_migrate(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    flavour: Annotated[
        str | None,
        typer.Option(help="timescaledb or postgres. [default: timescaledb when available]"),
    ] = None,
) -> None:
    """Apply pending migrations; safe to run at any time and from several processes."""
    if flavour not in (None, "timescaledb", "postgres"):
        fail(f"invalid --flavour {flavour!r}: use timescaledb or postgres")
    with user_errors():
        url = database.resolve_url(database_url, data_dir)
        applied = migrate(url, flavour)  # type: ignore[arg-type]
    for migration in applied:
        typer.echo(f"applied {migration.version:04d}_{migration.name}")
    typer.echo("database is up to date")


@db_app.command("status")
def db_status(
    database_url: DatabaseUrl = None, data_dir: DataDir = None, json: Json = False
) -> None:
    """Show the database flavour and the applied and pending migrations."""
    with user_errors():
        url = database.resolve_url(database_url, data_dir)
        result = migration_status(url)
    emit(
        {
            "flavour": result.flavour,
            "applied": result.applied,
            "pending": [f"{m.version:04d}_{m.name}" for m in result.pending],
        },
        json,
    )


@db_app.command("psql")
def db_psql(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Open psql on the database, the embedded one included, until psql exits."""
    psql = shutil.which("psql")
    with user_errors():
        url = database.resolve_url(database_url, data_dir)
        if psql is None:
            fail(
                "psql not found: install the PostgreSQL client (Debian: apt-get install "
                "postgresql-client)"
            )
        # A child process, not exec: this process keeps an embedded server running and
        # stops it when psql exits.
        status = _run_psql(psql, url)
    raise typer.Exit(status)


def _run_psql(psql: str, url: str) -> int:
    """Run psql until it exits, passing on the signals that end a terminal session.

    Ctrl+C is psql's own (it cancels the running query), so this process ignores it.
    SIGTERM and SIGHUP end psql, and this process then exits normally, which stops an
    embedded server it started.
    """
    process = subprocess.Popen([psql, url])

    def end_psql(signum: int, frame: object) -> None:
        process.send_signal(signal.SIGTERM)

    handlers = {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: end_psql, signal.SIGHUP: end_psql}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@project_app.command("create")
def project_create(
    name: str,
    plan: Annotated[str, typer.Option(help="free, starter, pro or enterprise.")] = "free",
    strict: Annotated[
        bool, typer.Option(help="Reject heartbeats from unregistered agents.")
    ] = False,
    timezone: Annotated[
        str, typer.Option(help="IANA timezone in which budget days start.")
    ] = "UTC",
    daily_budget: Annotated[
        float | None, typer.Option(help="Default daily cost budget per agent, in USD.")
    ] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Create a project."""
    run_admin(
        database_url,
        data_dir,
        lambda c: admin.create_project(c, name, plan, strict, timezone, daily_budget),
        json,
    )


@project_app.command("list")
def project_list(
    database_url: DatabaseUrl = None, data_dir: DataDir = None, json: Json = False
) -> None:
    """List projects."""
    columns = ["id", "name", "plan", "strict_mode", "active_keys", "agents"]
    run_admin(database_url, data_dir, admin.projects, json, columns)


@project_app.command("show")
def project_show(
    project: ProjectArg,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Show a project with its plan's limits."""
    run_admin(database_url, data_dir, lambda c: admin.get_project(c, project), json)


@project_app.command("set-plan")
def project_set_plan(
    project: ProjectArg,
    plan: Annotated[str, typer.Argument(help="free, starter, pro or enterprise.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Move a project to another plan (rate limit, retention, minimum interval)."""
    run_admin(database_url, data_dir, lambda c: admin.set_plan(c, project, plan), json)


@project_app.command("strict")
def project_strict(
    project: ProjectArg,
    enabled: Annotated[bool, typer.Option("--on/--off", help="Turn strict mode on or off.")] = True,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Turn strict mode on or off: when on, only registered agents may send heartbeats."""
    run_admin(database_url, data_dir, lambda c: admin.set_strict(c, project, enabled), json)


@key_app.command("create")
def key_create(
    project: ProjectArg,
    name: Annotated[str, typer.Option(help="A label to tell keys apart.")] = "",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Create an API key. The key is printed once and cannot be shown again."""
    run_admin(database_url, data_dir, lambda c: admin.create_key(c, project, name), json)


@key_app.command("list")
def key_list(
    project: ProjectArg,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """List a project's keys by id and prefix (never the keys themselves)."""
    run_admin(database_url, data_dir, lambda c: admin.keys(c, project), json)


@key_app.command("revoke")
def key_revoke(
    project: ProjectArg,
    key: Annotated[str, typer.Argument(help="Key id or prefix, as `key list` shows.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Revoke a key; running servers reject it within 30 seconds."""
    run_admin(database_url, data_dir, lambda c: admin.revoke_key(c, project, key), json)


@agent_app.command("list")
def agent_list(
    project: ProjectArg,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """List a project's agents with their status."""
    columns = ["id", "name", "status", "status_reason", "last_heartbeat_at", "registered"]
    run_admin(database_url, data_dir, lambda c: admin.agents(c, project), json, columns)


@agent_app.command("show")
def agent_show(
    project: ProjectArg,
    agent: str,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Show an agent's status and settings."""
    run_admin(database_url, data_dir, lambda c: admin.get_agent(c, project, agent), json)


@agent_app.command("register")
def agent_register(
    project: ProjectArg,
    agent: str,
    agent_type: Annotated[str, typer.Option(help="Framework or kind of agent.")] = "generic",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    json: Json = False,
) -> None:
    """Register an agent, which a project in strict mode requires before its heartbeats."""
    run_admin(
        database_url, data_dir, lambda c: admin.register_agent(c, project, agent, agent_type), json
    )


def _configure_logging(level: str) -> None:
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"invalid --log-level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    app()
