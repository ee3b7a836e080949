"""`clevagent grafana`: write the provisioning tree, or push it to a running Grafana."""

import os
from pathlib import Path
from typing import Annotated

import typer
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException

from clevagent_server.grafana import datasource
from clevagent_server.grafana.datasource import Flavour
from clevagent_server.grafana.export import render_tree, write_tree
from clevagent_server.grafana.notifications import configured_channels
from clevagent_server.grafana.push import PushPlan, push

app = typer.Typer(
    help="Grafana dashboards, alert rules and contact points for ClevAgent.",
    no_args_is_help=True,
)

FlavourOption = Annotated[
    str,
    typer.Option(help="Database flavour Grafana reads: timescaledb or postgres. It decides "
                      "whether $__timeGroup uses time_bucket()."),
]


def _flavour(value: str) -> Flavour:
    if value not in ("timescaledb", "postgres"):
        raise typer.BadParameter(f"{value!r} is not a flavour; use timescaledb or postgres")
    return value  # type: ignore[return-value]


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Root of the provisioning tree to write.")],
    flavour: FlavourOption = "timescaledb",
) -> None:
    """Write datasources, dashboards and alerting files for Grafana's provisioning.

    Contact points are written for the channels whose CLEVAGENT_* variables are set; the
    files refer to the secrets as ${VAR}, so Grafana needs the same variables.
    """
    changed = write_tree(directory, render_tree(os.environ, _flavour(flavour)))
    channels = [c.kind for c in configured_channels(os.environ)] or ["none"]
    typer.echo(f"wrote {directory}: {len(changed)} files changed; channels: {', '.join(channels)}")
    for path in changed:
        typer.echo(f"  {path}")


@app.command(name="push")
def push_command(
    url: Annotated[str, typer.Option(envvar="GRAFANA_URL", help="Grafana's base URL.")],
    token: Annotated[str, typer.Option(envvar="GRAFANA_TOKEN",
                                       help="A service account token with the Admin role.")],
    db_host: Annotated[str, typer.Option(envvar="CLEVAGENT_GRAFANA_DB_HOST",
                                         help="host:port of the database, as Grafana reaches it.")],
    db_name: Annotated[str, typer.Option(envvar="CLEVAGENT_GRAFANA_DB_NAME")] = "clevagent",
    db_user: Annotated[str, typer.Option(envvar="CLEVAGENT_GRAFANA_DB_USER",
                                         help="A member of the clevagent_grafana role.")
                       ] = "grafana",
    db_password: Annotated[str, typer.Option(envvar="CLEVAGENT_GRAFANA_DB_PASSWORD",
                                             prompt=True, hide_input=True)] = "",
    db_sslmode: Annotated[str, typer.Option(envvar="CLEVAGENT_GRAFANA_DB_SSLMODE",
                                            help="disable, require, verify-ca or verify-full.")
                          ] = "require",
    flavour: FlavourOption = "timescaledb",
    policy: Annotated[bool, typer.Option(help="Replace the notification policy tree. Turn "
                                              "off to keep a tree you maintain yourself.")
                      ] = True,
    force: Annotated[bool, typer.Option(help="Update every object, also those that look "
                                             "unchanged: needed to rotate a secret.")] = False,
) -> None:
    """Create or update the datasource, folder, dashboards, alert rules, contact points,
    template, mute timing and notification policy in a running Grafana."""
    payload = datasource.api_payload(db_host, db_name, db_user, db_password, db_sslmode,
                                     _flavour(flavour))
    plan = PushPlan(datasource=payload, environ=os.environ, include_policy=policy, force=force)
    api = GrafanaApi.from_url(url, credential=token)
    try:
        changes = push(api, plan)
    except GrafanaException as error:
        typer.echo(f"push to {url} failed: {error}", err=True)
        raise typer.Exit(1) from error

    for change in changes:
        typer.echo(str(change))
    changed = sum(change.action != "unchanged" for change in changes)
    typer.echo(f"{changed} of {len(changes)} objects changed in {url}")
