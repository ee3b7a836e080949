"""`python -m clevagent_server.demo`: the demo without the admin CLI around it."""

import typer

from clevagent_server.demo.cli import demo_command

typer.run(demo_command)
