"""Printing of CLI results: JSON for scripts, aligned text for people."""

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import typer


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def emit(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    """Print data (a dict or a list of dicts) as JSON or as text."""
    if as_json:
        typer.echo(json.dumps(data, default=_default, indent=2))
    elif isinstance(data, list):
        _table(data, columns)
    else:
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            typer.echo(f"{key.ljust(width)}  {_cell(value)}")


def _table(rows: list[dict[str, Any]], columns: list[str] | None) -> None:
    if not rows:
        typer.echo("(none)")
        return
    columns = columns or list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)
