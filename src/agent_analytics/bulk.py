"""Bulk loads into a table with many indexes: drop them and the keys, load, build them again.
The generator loads the events and runs so, and the naive baseline its copy of the events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from agent_analytics.progress import Progress


@contextmanager
def table_indexes_rebuilt_after(
    conn: psycopg.Connection, table: str, enabled: bool, progress: Progress
) -> Iterator[None]:
    """For a big load: drop the table's indexes, primary key and foreign keys, load, then
    recreate them from their own definitions. Building each index once is far faster than
    updating eight per row, and re-adding the keys checks every row. All in the load's
    transaction: a failure leaves the table as it was."""
    if not enabled:
        yield
        return
    indexes = conn.execute(
        "select indexrelid::regclass::text, pg_get_indexdef(indexrelid) from pg_index "
        "where indrelid = %s::regclass and not indisprimary",
        (table,),
    ).fetchall()
    # The primary key goes first and comes back first, so uniqueness is checked on the whole load.
    foreign_keys = conn.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass "
        "and contype in ('p', 'f') order by contype desc",
        (table,),
    ).fetchall()
    # Keys of other tables that reference this one (analytics_internal.run_keys references the
    # runs) stand on its primary key: they go first and come back last.
    referencing = conn.execute(
        "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint "
        "where confrelid = %s::regclass and contype = 'f' and conrelid <> confrelid",
        (table,),
    ).fetchall()
    for other, name, _ in referencing:
        conn.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(other), sql.Identifier(name)))
    for name, _ in indexes:
        conn.execute(sql.SQL("drop index {}").format(sql.SQL(name)))
    for name, _ in reversed(foreign_keys):
        conn.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(table), sql.Identifier(name)))
    yield
    conn.execute("set local maintenance_work_mem = '1GB'")
    steps = len(indexes) + len(foreign_keys)
    for done, (name, definition) in enumerate(foreign_keys[:1] + indexes + foreign_keys[1:], start=1):
        progress(f"indexes of {table.split('.')[-1]}", done - 1, steps, 0)
        if definition.startswith("CREATE"):
            # A partitioned table's index prints as ON ONLY, which would build it for the parent
            # alone and leave it invalid, with no index on any partition.
            conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
        else:
            conn.execute(sql.SQL("alter table {} add constraint {} " + definition).format(sql.SQL(table), sql.Identifier(name)))
    for other, name, definition in referencing:
        conn.execute(sql.SQL("alter table {} add constraint {} " + definition).format(sql.SQL(other), sql.Identifier(name)))
    progress(f"indexes of {table.split('.')[-1]}", steps, steps, 0)
