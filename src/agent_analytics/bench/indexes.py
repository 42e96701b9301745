"""Which indexes a run used: those nothing scanned (builds, functions, dashboard queries), and
btree indexes whose columns lead another index on the same table."""

from __future__ import annotations

from agent_analytics.bench.data import MEASURED_SCHEMAS, RunDatabase
from agent_analytics.bench.results import CoveredIndex, IndexReport, UnusedIndex


def index_scans(bench: RunDatabase) -> dict[str, int]:
    """Scans per index, partitions' indexes counted under their partitioned index."""
    with bench.connect() as conn:
        rows = conn.execute(
            """
            select coalesce(pg_partition_root(s.indexrelid), s.indexrelid)::regclass::text, sum(s.idx_scan)
            from pg_stat_user_indexes as s
            where s.schemaname = any(%s)
            group by 1
            """,
            (list(MEASURED_SCHEMAS),),
        ).fetchall()
    return {name: int(scans) for name, scans in rows}


def index_report(bench: RunDatabase, before: dict[str, int]) -> IndexReport:
    """Indexes not scanned since `before` (index_scans at the start of the run), and covered ones."""
    with bench.connect() as conn:
        # Backends report their counters when they finish; the query sessions have.
        conn.execute("select pg_stat_clear_snapshot()")
        indexes = conn.execute(
            """
            select i.indexrelid::regclass::text, i.indrelid::regclass::text, am.amname, i.indisunique,
                   i.indisprimary, pg_get_indexdef(i.indexrelid),
                   coalesce(pg_get_expr(i.indpred, i.indrelid), ''), i.indexprs is not null,
                   array(select a.attname::text from unnest(i.indkey[0:i.indnkeyatts - 1]) with ordinality as k(attnum, n)
                         join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n),
                   array(select (o & 1)::int from unnest(i.indoption::int2[]) with ordinality as k(o, n) order by k.n),
                   coalesce((select sum(pg_relation_size(t.relid)) from pg_partition_tree(i.indexrelid) as t),
                            pg_relation_size(i.indexrelid))
            from pg_index as i
            join pg_class as c on c.oid = i.indexrelid
            join pg_namespace as n on n.oid = c.relnamespace
            join pg_am as am on am.oid = c.relam
            where n.nspname = any(%s) and not c.relispartition
            order by 1
            """,
            (["analytics", "analytics_internal", "naive"],),
        ).fetchall()
    after = index_scans(bench)
    unused, covered = [], []
    for name, table, method, unique, primary, definition, predicate, expressions, columns, descending, size in indexes:
        scans = after.get(name, 0) - before.get(name, 0)
        if scans == 0:
            unused.append(UnusedIndex(index=name, table=table, bytes=int(size), definition=definition,
                                      enforces="primary key" if primary else "unique" if unique else None))
        if method != "btree" or unique or expressions:
            continue
        for other in indexes:
            o_name, o_table, o_method, *_, o_predicate, o_expressions, o_columns, o_descending, _ = other
            if o_name == name or o_table != table or o_method != "btree" or o_expressions or o_predicate != predicate:
                continue
            width = len(columns)
            if len(o_columns) >= width and o_columns[:width] == columns:
                same = descending == o_descending[:width]
                flipped = [1 - d for d in descending] == o_descending[:width]
                if same or flipped:
                    covered.append(CoveredIndex(index=name, covered_by=o_name, table=table, bytes=int(size)))
                    break
    return IndexReport(unused=unused, covered=covered)
