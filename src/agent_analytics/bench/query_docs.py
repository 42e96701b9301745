"""docs/dashboard-queries.md, made from sql/dashboard_queries.sql (the benchmark's input), so the
documented examples are the queries the benchmark times. Regenerate after changing the file:

    .venv/bin/python -m agent_analytics.bench.query_docs > docs/dashboard-queries.md

tests/python/test_dbt_project.py fails while the page differs from what this renders.
"""

from __future__ import annotations

import html
import re

from agent_analytics.bench.queries import DashboardQuery, load_queries

HEADER = """\
<!-- Generated from src/agent_analytics/sql/dashboard_queries.sql by
     `python -m agent_analytics.bench.query_docs`: edit that file, not this page. -->

# Dashboard queries

The queries a dashboard on the `analytics` schema runs, one per card or page, as examples of
how to read the rollups, the materialized views and the event table. They are the input of
`agent-analytics bench` ([performance.md](performance.md)), which times each one as a signed-in
member (through row-level security, as the app's PostgREST requests are) and as `service_role`,
against the spec's naive SQL; this page is made from the same file, so the two cannot drift.

Each query is shown as psql runs it: set its parameters first, e.g.

```
\\set workspace_id '3f0c6e2a-...'
\\set since_7d '2026-11-26 00:00+00'
```

(`psql -v workspace_id=...` works too). As the service role every row is readable; as a member
(`set role authenticated` with `request.jwt.claims`, see [security.md](security.md)) RLS keeps
the member's workspaces, the spec's three materialized views included (here they are tables
with RLS, [spec-deviations.md](spec-deviations.md)). Where a member's query differs (the live
figures, read through a function), the member form is shown under the query. Metric
definitions: [metrics.md](metrics.md); the same measures as MetricFlow metrics:
[semantic-layer.md](semantic-layer.md).
"""

ROLE_NAMES = {"member": "a signed-in member", "service": "service_role"}


def psql_form(text: str) -> str:
    """The benchmark's text ({schema}, %(name)s, doubled braces) as psql runs it."""
    text = text.replace("{schema}", "analytics").replace("{{", "{").replace("}}", "}")
    return re.sub(r"%\((\w+)\)s", r":'\1'", text).strip()


def split_trailing_comment(text: str) -> tuple[str, list[str]]:
    """A query's SQL, and the comment paragraph after it (which introduces the next queries)."""
    lines = text.rstrip().splitlines()
    comment: list[str] = []
    while lines and (lines[-1].startswith("--") or not lines[-1].strip()):
        line = lines.pop()
        if line.strip():
            comment.insert(0, line[2:].strip())
    return "\n".join(lines).rstrip().rstrip(";") + ";", comment


def parameters(query: DashboardQuery) -> list[str]:
    names = re.findall(r"%\((\w+)\)s", (query.ours_text or query.text) + (query.member_text or ""))
    return list(dict.fromkeys(names))


def render(queries: list[DashboardQuery] | None = None) -> str:
    queries = load_queries() if queries is None else queries
    parts = [HEADER]
    notes: list[str] = []
    for query in queries:
        # our schema's form (the plain one unless the query has an `ours` form); the comments
        # that follow a query's last block introduce the next query
        sql, _ = split_trailing_comment(query.ours_text or query.text)
        _, next_notes = split_trailing_comment(query.member_text or query.ours_text or query.text)
        parts.append(f"## {query.name}\n")
        if notes:
            parts.append(html.escape(" ".join(notes), quote=False) + "\n")
        what = query.what[:1].upper() + query.what[1:]
        run_by = " and ".join(ROLE_NAMES.get(role, role) for role in query.roles)
        named = ", ".join(f"`{name}`" for name in parameters(query)) or "none"
        parts.append(f"{what}. Run by {run_by}. Parameters: {named}.\n")
        parts.append(f"```sql\n{psql_form(sql)}\n```\n")
        if query.member_text:
            member_sql, _ = split_trailing_comment(query.member_text)
            parts.append(f"As a member:\n\n```sql\n{psql_form(member_sql)}\n```\n")
        notes = next_notes
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
