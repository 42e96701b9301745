"""The benchmark's pieces: its queries run on both schemas, its figures are computed right.
(The whole benchmark runs at tiny scale in CI as a smoke test; timings are never asserted.)"""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest

from agent_analytics import bench, bench_report, db, naive

from conftest import acting_as


def test_dashboard_queries_are_parsed_with_their_roles_and_member_forms():
    queries = {query.name: query for query in bench.load_queries()}
    assert len(queries) >= 10
    assert queries["my_workspaces_30d"].roles == ("member",)
    assert queries["daily_30d"].roles == ("member", "service")
    member_form = queries["top_agents"].statement("analytics", "member").as_string(None)
    assert "member_top_agents()" in member_form
    # Members of the naive schema read its views directly: the spec gives them nothing else.
    assert "\"naive\".mv_top_agents" in queries["top_agents"].statement("naive", "member").as_string(None)
    assert '{"status_code": 500}' in queries["events_by_metadata"].text.replace("{{", "{").replace("}}", "}")


def test_summary_gives_interpolated_percentiles():
    figures = bench.summary([i / 1000 for i in range(1, 101)], unit="ms")
    assert figures["n"] == 100
    assert figures["p50_ms"] == pytest.approx(50.5)
    assert figures["p95_ms"] == pytest.approx(95.05)
    assert figures["p99_ms"] == pytest.approx(99.01)
    assert bench.summary([]) == {"n": 0}


def test_plan_summary_flags_sequential_scans_of_big_tables_only():
    plan = {
        "Planning Time": 0.5,
        "Execution Time": 2.0,
        "Plan": {
            "Node Type": "Nested Loop", "Shared Hit Blocks": 10, "Shared Read Blocks": 2,
            "Plans": [
                {"Node Type": "Seq Scan", "Schema": "analytics", "Relation Name": "big", "Actual Rows": 5,
                 "Actual Loops": 1},
                {"Node Type": "Seq Scan", "Schema": "analytics", "Relation Name": "small", "Actual Rows": 3,
                 "Actual Loops": 2},
                {"Node Type": "Index Scan", "Schema": "analytics", "Relation Name": "big", "Index Name": "big_idx",
                 "Actual Rows": 1, "Actual Loops": 4},
            ],
        },
    }
    summary = bench.plan_summary(plan, {("analytics", "big"): 1e6, ("analytics", "small"): 10})
    assert summary["whole_table_scans"] == ["analytics.big"]
    assert [scan["rows"] for scan in summary["scans"]] == [5, 6, 4]
    assert summary["scans"][2]["index"] == "big_idx"


def test_speedup_reads_as_naive_over_ours():
    assert bench_report.speedup(1.0, 12.0) == "12.0× faster"
    assert bench_report.speedup(2.0, 1.0) == "0.50× (slower)"
    assert bench_report.speedup(None, 1.0) == "–"


def test_a_run_with_its_own_history_is_named_apart_from_the_scale(tmp_path):
    assert bench.BenchOptions("medium", tmp_path).label == "medium"
    assert bench.BenchOptions("medium", tmp_path, days=90).label == "medium"
    longer = bench.BenchOptions("medium", tmp_path, days=180)
    assert (longer.label, longer.history_days) == ("medium-180d", 180)


def test_the_scaling_comparison_finds_every_run_in_the_folder_by_label(tmp_path):
    def run(scale, label, events, hours):
        return {"scale": scale, "label": label, "data": {"events": events, "days": 92},
                "builds": {"append_1h": [{"seconds": seconds} for seconds in hours]}}

    (tmp_path / "medium.json").write_text(json.dumps(run("medium", "medium", 2_000_000, [9.0, 10.0, 11.0])))
    (tmp_path / "large.json").write_text(json.dumps(run("large", "large", 23_000_000, [20.0, 21.0, 22.0])))
    (tmp_path / "notes.json").write_text("[1, 2]")
    longer = run("medium", "medium-180d", 4_000_000, [10.0, 12.0, 13.0])
    others = bench_report._other_runs(tmp_path, "medium-180d")
    assert sorted(others) == ["large", "medium"]
    order = [name for name, _ in bench_report.in_scaling_order(longer, others)]
    assert order == ["medium", "medium-180d", "large"]
    assert bench_report.build_1h_median(longer) / bench_report.build_1h_median(others["medium"]) == pytest.approx(1.2)


def test_a_report_drawn_again_from_its_json_reads_decimals_kept_as_text():
    assert bench_report._fmt("12.5") == "12.50"
    assert bench_report._fmt(Decimal("1234.4"), 0) == "1,234"
    assert bench_report._fmt(None) == "–"


@pytest.fixture(scope="module")
def with_naive(built):
    """The built database with the spec's SQL beside ours (removed afterwards)."""
    with built.connect() as conn:
        naive.install(conn, lambda *args: None)
        assert all(seconds is not None for seconds in naive.fill_views(conn, 300, lambda *args: None).values())
    yield built
    with built.connect() as conn:
        conn.execute("drop schema naive cascade")


def test_spec_views_are_created_empty_so_that_their_filling_is_timed_and_limited(built):
    statements = naive.spec_sql_with_empty_views()
    assert statements.count("WITH NO DATA;") == 3
    assert statements.replace("\nWITH NO DATA;", ";") == naive.spec_sql()


def test_a_statement_past_its_limit_is_stopped_and_reported_as_such(built):
    with built.connect() as conn:
        assert db.timed(conn, psycopg.sql.SQL("select pg_sleep(2)"), limit=0.2) is None
        assert db.timed(conn, "select current_user", role="service_role", limit=5) < 5
        assert conn.execute("select current_user, current_setting('statement_timeout')").fetchone() == (
            built.target.user, "0")


def test_state_kept_in_a_comment_reads_back_and_is_none_where_there_is_none(built, admin_target):
    with db.connect(admin_target) as conn:
        assert db.read_note(conn, "database", built.target.dbname, "test note: ") is None
        db.write_note(conn, "database", built.target.dbname, "test note: ", {"events": 12, "end": "2026-01-01"})
        assert db.read_note(conn, "database", built.target.dbname, "test note: ") == {"events": 12, "end": "2026-01-01"}
        assert db.read_note(conn, "database", "no_such_database", "test note: ") is None
        conn.execute(psycopg.sql.SQL("comment on database {} is null").format(
            psycopg.sql.Identifier(built.target.dbname)))
    with built.connect() as conn:
        assert db.read_note(conn, "table", "public.no_such_table", "test note: ") is None


def test_spec_sql_with_f1_to_f3_fixed_runs_and_computes_what_the_spec_says(with_naive):
    with with_naive.connect() as conn:
        assert conn.execute("select count(*) from naive.user_activity").fetchone()[0] == conn.execute(
            "select count(*) from analytics.user_activity"
        ).fetchone()[0]
        assert conn.execute(
            "select naive.calculate_percentiles('{1,2,3,4,5}', '{0.5,0.95,0.99}')"
        ).fetchone()[0] == [Decimal("3"), Decimal("4.8"), Decimal("4.96")]
        day = conn.execute("select max(started_at)::date - 1 from public.agent_runs").fetchone()[0]
        conn.execute("select naive.aggregate_daily_metrics(%s)", (day,))
        # S4a, kept on purpose: the spec's active_users always equals total_users.
        assert conn.execute(
            "select count(*), count(*) filter (where active_users <> total_users) from naive.daily_metrics "
            "where metric_date = %s", (day,)
        ).fetchone() == (conn.execute(
            "select count(distinct workspace_id) from public.agent_runs where started_at::date = %s", (day,)
        ).fetchone()[0], 0)
        conn.execute("select naive.refresh_all_materialized_views()")


@pytest.mark.parametrize("query", bench.load_queries(), ids=lambda query: query.name)
def test_every_dashboard_query_runs_for_a_member_and_service_role_on_both_schemas(with_naive, query):
    with with_naive.connect() as conn:
        params = bench.sample_parameters(conn, 1, 3)[0]
        for role in query.roles:
            for schema in ("analytics", "naive"):
                with conn.transaction():
                    bench.become(conn, role, params["user_id"])
                    conn.execute(query.statement(schema, role), params).fetchall()


def test_members_see_only_their_workspaces_in_the_member_dashboard_queries(with_naive):
    with with_naive.connect() as conn:
        user_id, workspace_id = conn.execute(
            "select user_id, min(workspace_id::text)::uuid from public.workspace_members group by user_id "
            "having count(*) = 1 limit 1"
        ).fetchone()
        query = next(query for query in bench.load_queries() if query.name == "my_workspaces_30d")
        with acting_as(conn, "authenticated", user_id):
            rows = conn.execute(query.statement("analytics", "member"), {}).fetchall()
        assert rows and {row[0] for row in rows} == {workspace_id}


def test_anon_cannot_read_the_dashboard_tables(with_naive):
    with with_naive.connect() as conn:
        with acting_as(conn, "anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from analytics.daily_metrics limit 1")


def test_storage_reports_a_naive_view_that_never_filled_as_empty_instead_of_failing(with_naive):
    with with_naive.connect() as conn:
        conn.execute("create materialized view naive.never_filled as select 1 as x with no data")
    try:
        run = bench.Run(with_naive.target, with_naive.target, "unused", False, with_naive.target_path, {
            "data": {"data_start": "2026-01-01T00:00:00+00:00", "data_end_after_appends": "2026-01-31T00:00:00+00:00",
                     "workspaces": 3},
        })
        storage = bench._storage(run)
    finally:
        with with_naive.connect() as conn:
            conn.execute("drop materialized view naive.never_filled")
    never_filled = next(table for table in storage["tables"] if table["table"] == "never_filled")
    assert (never_filled["rows"], never_filled["populated"]) == (0, False)
    assert storage["ours"]["bytes_per_event"] > 0
