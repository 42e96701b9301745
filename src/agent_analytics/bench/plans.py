"""EXPLAIN (ANALYZE, BUFFERS) of every dashboard query, with its sequential scans of whole tables."""

from __future__ import annotations

import psycopg
from psycopg import sql

from agent_analytics.bench.data import MEASURED_SCHEMAS, RunDatabase
from agent_analytics.bench.queries import SCHEMAS, DashboardQuery, become
from agent_analytics.bench.results import ExplainedQuery, PlanSummary, Scan
from agent_analytics.progress import Progress

# A sequential scan of a relation with at least this many rows reads a whole table.
WHOLE_TABLE_ROWS = 10_000


def explain_all(
    bench: RunDatabase, queries: list[DashboardQuery], params: dict, progress: Progress
) -> list[ExplainedQuery]:
    """Each query for each role on both schemas, with one set of parameters; a query that
    cannot run (a naive view never filled) is left out."""
    with bench.connect() as conn:
        sizes = {
            (schema, name): rows for schema, name, rows in conn.execute(
                "select n.nspname, c.relname, c.reltuples from pg_class as c "
                "join pg_namespace as n on n.oid = c.relnamespace where n.nspname = any(%s)",
                (list(MEASURED_SCHEMAS),),
            )
        }
        explained = []
        total = sum(len(query.roles) * len(SCHEMAS) for query in queries)
        for query in queries:
            for role in query.roles:
                for schema, _ in SCHEMAS:
                    try:
                        with conn.transaction():
                            become(conn, role, params["user_id"])
                            cursor = psycopg.ClientCursor(conn)
                            cursor.execute(
                                sql.SQL("explain (analyze, buffers, verbose, format json) ")
                                + query.statement(schema, role),
                                params,
                            )
                            plan = cursor.fetchone()[0][0]
                    except psycopg.errors.ObjectNotInPrerequisiteState:
                        continue
                    explained.append(ExplainedQuery(query=query.name, role=role, schema=schema,
                                                    plan=plan_summary(plan, sizes)))
                    progress("query plans", len(explained), total, len(explained))
    return explained


def plan_summary(plan: dict, sizes: dict[tuple[str, str], float]) -> PlanSummary:
    """The scans of a JSON plan, with a flag on sequential scans of big relations."""
    scans = []

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            key = (node.get("Schema", ""), node["Relation Name"])
            scans.append(Scan(
                node=node["Node Type"],
                relation=".".join(part for part in key if part),
                index=node.get("Index Name"),
                rows=node.get("Actual Rows", 0) * node.get("Actual Loops", 1),
                whole_table=node["Node Type"] == "Seq Scan" and sizes.get(key, 0) >= WHOLE_TABLE_ROWS,
            ))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    top = plan["Plan"]
    return PlanSummary(
        planning_ms=round(plan.get("Planning Time", 0.0), 3),
        execution_ms=round(plan.get("Execution Time", 0.0), 3),
        shared_hit=top.get("Shared Hit Blocks", 0),
        shared_read=top.get("Shared Read Blocks", 0),
        scans=scans,
        whole_table_scans=[scan.relation for scan in scans if scan.whole_table],
    )
