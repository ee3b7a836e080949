"""A panel target for Grafana's PostgreSQL datasource.

grafana-foundation-sdk has builders for many datasources but none for PostgreSQL, so this
module supplies the small one the dashboards need. A target is raw SQL in code mode: the
datasource expands Grafana's macros ($__timeFilter, $__timeGroupAlias, ...) on the server
and dashboard variables in the browser before it runs the statement.
"""

from dataclasses import dataclass
from typing import Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

Format = Literal["time_series", "table"]

# The start of the current day in the budget timezone of the project aliased p: budgets and
# "today's cost" reset at local midnight, not at UTC midnight.
TODAY_START_SQL = (
    "date_trunc('day', now() AT TIME ZONE p.budget_timezone) AT TIME ZONE p.budget_timezone"
)


@dataclass
class PostgresDataquery(cogvariants.Dataquery):
    """One SQL target, serialised the way Grafana's query editor stores it."""

    ref_id: str
    raw_sql: str
    format: Format
    datasource: DataSourceRef | None = None

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "rawSql": self.raw_sql,
            "format": self.format,
            "rawQuery": True,
            "editorMode": "code",
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource.to_json()
        return payload


class PostgresQuery(cogbuilder.Builder[PostgresDataquery]):
    """Build a PostgresDataquery; the SQL is required, the format defaults to table."""

    def __init__(self, raw_sql: str) -> None:
        self._internal = PostgresDataquery(ref_id="A", raw_sql=raw_sql.strip(), format="table")

    def build(self) -> PostgresDataquery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def format(self, format: Format) -> Self:
        self._internal.format = format
        return self

    def time_series(self) -> Self:
        return self.format("time_series")

    def datasource(self, datasource: DataSourceRef) -> Self:
        self._internal.datasource = datasource
        return self
