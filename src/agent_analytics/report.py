"""What the build produced: the analytics objects and their row counts."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class BuiltObject:
    name: str
    kind: str
    rows: int | None


KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}


def analytics_objects(conn: psycopg.Connection, schema: str = "analytics") -> list[BuiltObject]:
    """Tables, views and materialized views of the schema (partitions folded into their parent)."""
    rows = conn.execute(
        """
        select c.relname, c.relkind
        from pg_catalog.pg_class as c
        where c.relnamespace = to_regnamespace(%s) and c.relkind in ('r', 'p', 'v', 'm')
          and not c.relispartition
        order by c.relkind, c.relname
        """,
        (schema,),
    ).fetchall()
    objects = []
    for name, kind in rows:
        count = None
        if kind != "v":
            query = sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            count = conn.execute(query).fetchone()[0]
        objects.append(BuiltObject(name=name, kind=KINDS[kind], rows=count))
    return objects


def function_names(conn: psycopg.Connection, schema: str = "analytics") -> list[str]:
    rows = conn.execute(
        """
        select p.proname from pg_catalog.pg_proc as p
        where p.pronamespace = to_regnamespace(%s) order by 1
        """,
        (schema,),
    ).fetchall()
    return [name for (name,) in rows]
