"""Bytes of every table and view, indexes included, and what they come to per event, per run
and per workspace-month; how many events a month one workspace can have before its share
reaches 1 GB."""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import sql

from agent_analytics.bench.data import MEASURED_SCHEMAS, RunDatabase
from agent_analytics.bench.results import Footprint, Storage, TableSize

DAYS_PER_MONTH = 30.44


def storage(bench: RunDatabase, data_end: str) -> Storage:
    """The sizes now, over the data from its start to `data_end` (after the appends)."""
    with bench.connect() as conn:
        rows = conn.execute(
            """
            select n.nspname, c.relname, c.relkind, c.relispopulated,
                   case when c.relkind = 'p'
                        then (select coalesce(sum(pg_table_size(t.relid)), 0) from pg_partition_tree(c.oid) as t)
                        else pg_table_size(c.oid) end,
                   case when c.relkind = 'p'
                        then (select coalesce(sum(pg_indexes_size(t.relid)), 0) from pg_partition_tree(c.oid) as t)
                        else pg_indexes_size(c.oid) end
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'p', 'm') and not c.relispartition
            order by 1, 2
            """,
            (list(MEASURED_SCHEMAS),),
        ).fetchall()
        tables = []
        for schema, name, kind, populated, table_bytes, index_bytes in rows:
            # A naive view that never filled within the time limit holds nothing to count.
            count = conn.execute(
                sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            ).fetchone()[0] if populated else 0
            # sizes summed over partitions come as numeric
            table_bytes, index_bytes = int(table_bytes), int(index_bytes)
            tables.append(TableSize(
                schema=schema, table=name, kind=kind, rows=count, populated=populated, table_bytes=table_bytes,
                index_bytes=index_bytes,
                bytes_per_row=round((table_bytes + index_bytes) / count, 1) if count else None,
            ))
    months = (datetime.fromisoformat(data_end) - datetime.fromisoformat(bench.data.data_start)) / timedelta(
        days=DAYS_PER_MONTH)

    def footprint(schemas: tuple[str, ...]) -> Footprint:
        mine = [t for t in tables if t.schema in schemas]
        total = sum(t.table_bytes + t.index_bytes for t in mine)
        events = next(t for t in mine if t.table == "user_activity")
        event_bytes = events.table_bytes + events.index_bytes
        per_event = total / events.rows
        return Footprint(
            schemas=list(schemas),
            total_bytes=total,
            event_table_bytes=event_bytes,
            bytes_per_event=round(event_bytes / events.rows, 1),
            bytes_per_event_all_tables=round(per_event, 1),
            bytes_per_workspace_month=round(total / (bench.data.workspaces * months)),
            events_per_workspace_month_for_1gb=int(2**30 / per_event),
        )

    runs = next(t for t in tables if t.schema == "public" and t.table == "agent_runs")
    return Storage(
        months_of_data=round(months, 2),
        tables=tables,
        ours=footprint(("analytics", "analytics_internal")),
        naive=footprint(("naive",)),
        bytes_per_run=round((runs.table_bytes + runs.index_bytes) / runs.rows, 1),
    )
