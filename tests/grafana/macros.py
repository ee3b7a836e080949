"""Expand a Grafana PostgreSQL query the way Grafana does before it reaches the database.

Three stages, in Grafana's order:
1. Dashboard variables, replaced in the browser by the template service
   (public/app/features/templating: `$var`, `${var}`, `${var:format}`, `[[var]]`).
2. The SQL engine's global substitutions (sqleng/sql_engine.go, Interpolate):
   `$__interval_ms`, `$__interval`, `$__unixEpochFrom()`, `$__unixEpochTo()`.
3. The PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go).

Alert queries skip stage 1. Formatting details follow Go: RFC 3339 with trimmed
fractional seconds, `%v` of a float64 for $__timeGroup without TimescaleDB, and
gtime.FormatInterval for $__interval.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

VariableValue = str | list[str]

# The template service's variable syntax (templating/template_srv.ts, variableRegex).
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)

# macros.go: `$` + identifier + `(` + everything up to the first `)`.
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")

_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")
_GO_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}
_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


class MacroError(Exception):
    """Grafana would return this interpolation error instead of running the query."""


@dataclass
class Variable:
    """A dashboard variable: its current value(s) and how it was declared."""

    value: VariableValue
    multi: bool = False
    include_all: bool = False


@dataclass
class QueryContext:
    """The context Grafana has when it runs a query."""

    time_from: datetime
    time_to: datetime
    interval: timedelta = timedelta(minutes=1)
    timescaledb: bool = False
    variables: dict[str, Variable] = field(default_factory=dict)


# Stage 1: dashboard variables.

def _sqlstring(value: VariableValue) -> str:
    values = value if isinstance(value, list) else [value]
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _format_variable(variable: Variable, fmt: str | None) -> str:
    value = variable.value
    if fmt == "sqlstring":
        return _sqlstring(value)
    if fmt in ("csv", "raw"):
        return ",".join(value) if isinstance(value, list) else value
    if fmt is not None:
        raise ValueError(f"the test expander does not implement the format {fmt!r}")

    # No format: the SQL datasource's interpolateVariable (before Grafana 12.0.8).
    if isinstance(value, list):
        return _sqlstring(value)
    if variable.multi or variable.include_all:
        return _sqlstring(value)
    return value.replace("'", "''")


def expand_variables(sql: str, variables: dict[str, Variable]) -> str:
    """Replace dashboard variables; unknown names (macros) stay as they are."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name not in variables:
            return match.group(0)
        return _format_variable(variables[name], fmt)

    return _VARIABLE.sub(replace, sql)


# Stage 2: the SQL engine's global substitutions.

def format_interval(interval: timedelta) -> str:
    """Return gtime.FormatInterval: the largest whole unit, truncated."""
    ms = int(interval / timedelta(milliseconds=1))
    for unit, size in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000),
                       ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def interpolate_globals(sql: str, ctx: QueryContext) -> str:
    ms = int(ctx.interval / timedelta(milliseconds=1))
    sql = sql.replace("$__interval_ms", str(ms))
    sql = sql.replace("$__interval", format_interval(ctx.interval))
    sql = sql.replace("$__unixEpochFrom()", str(_unix(ctx.time_from)))
    return sql.replace("$__unixEpochTo()", str(_unix(ctx.time_to)))


# Stage 3: the macro engine.

def _unix(moment: datetime) -> int:
    return int(moment.timestamp() // 1)


def _unix_nano(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def rfc3339nano(moment: datetime) -> str:
    """Return Go's time.RFC3339Nano of the UTC time: no trailing zeros, 'Z' for UTC."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += ("." + f"{utc.microsecond:06d}").rstrip("0")
    return text + "Z"


def go_float(value: float) -> str:
    """Return fmt's %v of a float64: strconv's 'g' with the shortest digits, which uses the
    exponent form from 1e6 (Go prints 1e+06) and below 1e-4."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    assert isinstance(digits_tuple.exponent, int)
    point = len(digits) + digits_tuple.exponent
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def parse_go_duration(text: str) -> float:
    """Return the seconds of a Go time.ParseDuration string such as 1h30m or 1.5s."""
    rest = text
    sign = -1.0 if rest.startswith("-") else 1.0
    rest = rest.lstrip("+-")
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(text)
    total = 0.0
    while rest:
        match = _GO_DURATION_PART.match(rest)
        if not match or match.group(1) in ("", "."):
            raise ValueError(text)
        total += float(match.group(1)) * _GO_DURATION_UNITS[match.group(2)]
        rest = rest[match.end():]
    return sign * total


def parse_interval(text: str, now: datetime) -> float:
    """Return the seconds of gtime.ParseInterval: d, w, M and y count calendar units from now."""
    match = _DATE_UNIT.match(text)
    if not match:
        return parse_go_duration(text)
    count, unit = int(match.group(1)), match.group(2)
    now = now.astimezone(UTC)
    if unit == "d":
        return float(count * 86_400)
    if unit == "w":
        return float(count * 7 * 86_400)
    months = count if unit == "M" else count * 12
    year, month = divmod(now.month - 1 + months, 12)
    later = now.replace(year=now.year + year, month=month + 1)
    return (later - now).total_seconds()


def _check_fill(value: str) -> None:
    if value in ("NULL", "previous"):
        return
    try:
        float(value)
    except ValueError as error:
        raise MacroError(f"error parsing fill value {value}") from error


def _time_group(args: list[str], ctx: QueryContext, name: str) -> str:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval and optional fill value")
    try:
        seconds = parse_interval(args[1].strip("'"), datetime.now(UTC))
    except ValueError as error:
        raise MacroError(f"error parsing interval {args[1]}") from error
    if len(args) == 3:
        _check_fill(args[2])
    if name == "__unixEpochGroup":
        return f"floor(({args[0]})/{go_float(seconds)})*{go_float(seconds)}"
    if ctx.timescaledb:
        return f"time_bucket('{seconds:.3f}s',{args[0]})"
    return f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"


def _needs_column(name: str, args: list[str]) -> None:
    # Go splits "" into [""], so only a call with no argument list at all lacks one.
    if not args:
        raise MacroError(f"missing time column argument for macro {name}")


def evaluate_macro(name: str, args: list[str], ctx: QueryContext) -> str:
    start, end = ctx.time_from, ctx.time_to
    if name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter",
                "__unixEpochNanoFilter"):
        _needs_column(name, args)
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339nano(start)}' AND '{rfc3339nano(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339nano(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339nano(end)}'"
    if name in ("__timeGroup", "__unixEpochGroup"):
        return _time_group(args, ctx, name)
    if name == "__timeGroupAlias":
        return _time_group(args, ctx, "__timeGroup") + ' AS "time"'
    if name == "__unixEpochGroupAlias":
        return _time_group(args, ctx, "__unixEpochGroup") + ' AS "time"'
    if name == "__unixEpochFilter":
        return f"{args[0]} >= {_unix(start)} AND {args[0]} <= {_unix(end)}"
    if name == "__unixEpochNanoFilter":
        return f"{args[0]} >= {_unix_nano(start)} AND {args[0]} <= {_unix_nano(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_unix_nano(start))
    if name == "__unixEpochNanoTo":
        return str(_unix_nano(end))
    raise MacroError(f'unknown macro "{name}"')


def interpolate_macros(sql: str, ctx: QueryContext) -> str:
    original = sql

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        # A $__timeGroup directly followed by a comma is the old alias form. Grafana looks
        # at the first occurrence of the same text in the query, not at this match.
        if name == "__timeGroup":
            index = original.find(match.group(0))
            after = index + len(match.group(0))
            if index >= 0 and after < len(original) and original[after] == ",":
                name = "__timeGroupAlias"
        args = [arg.strip(" ") for arg in match.group(2).split(",")]
        return evaluate_macro(name, args, ctx)

    return _MACRO.sub(replace, sql)


def expand_panel_query(sql: str, ctx: QueryContext) -> str:
    """Expand a dashboard query: variables, then globals, then macros."""
    return interpolate_macros(interpolate_globals(expand_variables(sql, ctx.variables), ctx), ctx)


def expand_alert_query(sql: str, ctx: QueryContext) -> str:
    """Expand an alert query, which never receives dashboard variables."""
    return interpolate_macros(interpolate_globals(sql, ctx), ctx)
