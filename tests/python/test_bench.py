"""The benchmark's pieces: its queries run on both schemas, its figures are computed right, its
results read back from the JSON they are written to, and the report is drawn from them.
(The whole benchmark runs at tiny scale in CI as a smoke test; timings are never asserted.)"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from agent_analytics import bench, db, naive
from agent_analytics.bench import (
    concurrency,
    data,
    live_snapshot,
    maintenance,
    plans,
    queries,
    query_docs,
    report,
    scaling,
    storage,
)
from agent_analytics.bench.results import (
    Aggregation,
    AggregationTiming,
    AlertEvaluation,
    Appended,
    BenchResults,
    Build,
    Builds,
    CoveredIndex,
    DashboardEntry,
    DataSet,
    ExplainedQuery,
    Footprint,
    IndexReport,
    Ingestion,
    LoadTiming,
    LoadWindow,
    Machine,
    NaiveBaseline,
    PlanSummary,
    QueryTiming,
    Refresh,
    RefreshTiming,
    Retention,
    RetentionTiming,
    RunOptions,
    Scan,
    SlowNode,
    Storage,
    TableSize,
    UnusedIndex,
    rate,
    summary,
)
from conftest import PROJECT, acting_as


def test_dashboard_queries_are_parsed_with_their_roles_and_member_forms():
    parsed = {query.name: query for query in queries.load_queries()}
    assert len(parsed) >= 10
    assert parsed["my_workspaces_30d"].roles == ("member",)
    assert parsed["daily_30d"].roles == ("member", "service")
    # members and service_role run the same query on the spec's materialized views (RLS decides)
    top_agents = parsed["top_agents"]
    assert top_agents.statement("analytics", "member").as_string(None) == top_agents.statement(
        "analytics", "service").as_string(None)
    assert "\"analytics\".mv_top_agents" in top_agents.statement("analytics", "member").as_string(None)
    # Members of the naive schema read its views directly: the spec gives them nothing else.
    assert "\"naive\".mv_top_agents" in parsed["top_agents"].statement("naive", "member").as_string(None)
    # an `ours` form replaces the query on our schema for every caller but a member form's
    live = parsed["hourly_today_live"]
    assert "live_hourly_metrics(" in live.statement("analytics", "service").as_string(None)
    assert "member_live_hourly_metrics(" in live.statement("analytics", "member").as_string(None)
    assert "\"naive\".hourly_metrics" in live.statement("naive", "member").as_string(None)
    assert '{"status_code": 500}' in parsed["events_by_metadata"].text.replace("{{", "{").replace("}}", "}")



def test_the_documented_dashboard_queries_are_the_benchmarks_queries():
    """docs/dashboard-queries.md is rendered from sql/dashboard_queries.sql (bench/query_docs.py)."""
    page = (PROJECT / "docs" / "dashboard-queries.md").read_text(encoding="utf-8")
    assert page == query_docs.render(), (
        "docs/dashboard-queries.md is stale: .venv/bin/python -m agent_analytics.bench.query_docs "
        "> docs/dashboard-queries.md"
    )
    for query in queries.load_queries():
        sql_text, _ = query_docs.split_trailing_comment(query.ours_text or query.text)
        assert f"## {query.name}\n" in page and query_docs.psql_form(sql_text) in page
    assert "%(" not in page and "{schema}" not in page
    assert "docs/dashboard-queries.md" in (PROJECT / "README.md").read_text(encoding="utf-8")

def test_summary_gives_interpolated_percentiles_under_their_unit_in_the_json():
    figures = summary([i / 1000 for i in range(1, 101)], unit="ms")
    assert figures.n == 100
    assert figures.p50 == pytest.approx(50.5)
    assert figures.p95 == pytest.approx(95.05)
    assert figures.p99 == pytest.approx(99.01)
    assert list(figures.to_json()) == ["n", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
    assert summary([]).to_json() == {"n": 0}


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
    summary_ = plans.plan_summary(plan, {("analytics", "big"): 1e6, ("analytics", "small"): 10})
    assert summary_.whole_table_scans == ["analytics.big"]
    assert [scan.rows for scan in summary_.scans] == [5, 6, 4]
    assert summary_.scans[2].index == "big_idx"


def test_speedup_reads_as_naive_over_ours():
    assert report.speedup(1.0, 12.0) == "12.0× faster"
    assert report.speedup(2.0, 1.0) == "0.50× (slower)"
    assert report.speedup(None, 1.0) == "–"


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
    longer = scaling.ScalingPoint.from_json(run("medium", "medium-180d", 4_000_000, [10.0, 12.0, 13.0]))
    others = scaling.other_runs(tmp_path, "medium-180d")
    assert sorted(others) == ["large", "medium"]
    assert [point.label for point in scaling.in_scaling_order(longer, others)] == ["medium", "medium-180d", "large"]
    assert longer.build_1h_median / others["medium"].build_1h_median == pytest.approx(1.2)


def sample_results() -> BenchResults:
    """A run's results with every case the report draws: a naive query that could not run, a
    naive refresh stopped at its limit, builds with and without appended data."""
    def build(seconds: float, appended: Appended | None = None) -> Build:
        return Build(seconds=seconds, dbt_elapsed=seconds - 1, nodes=40,
                     slowest=[SlowNode(node="model.user_activity_hours", seconds=1.5)], appended=appended)

    def timing(ms: list[float], rows: int = 3) -> QueryTiming:
        return QueryTiming(timings=summary([value / 1000 for value in ms], unit="ms"), rows_median=rows,
                           empty_results=0)

    def footprint(schemas: list[str], total: int) -> Footprint:
        return Footprint(schemas=schemas, total_bytes=total, event_table_bytes=total // 2, bytes_per_event=310.5,
                         bytes_per_event_all_tables=620.0, bytes_per_workspace_month=40_000,
                         events_per_workspace_month_for_1gb=1_700_000)

    views = {view: RefreshTiming(timings=summary([0.01, 0.02]), wal_bytes_p50=51_200.0)
             for view in ("mv_active_users", "all")}
    appended = Appended(events=120, late_events=7, runs=12, runs_updated=3, seconds=0.4)
    return BenchResults(
        scale="tiny", label="tiny", seed=42, build_command=["build", "--exclude-resource-type", "unit_test"],
        started_at="2026-12-03T06:00:00+00:00",
        options=RunOptions(repeat=5, hourly_builds=1, daily_builds=1, refresh_repeat=1, naive_limit_s=600.0),
        data=DataSet(scale="tiny", seed=42, appended_hours=25.0, days=9, data_start="2026-11-24T06:00:00+00:00",
                     data_end="2026-12-02T05:00:00+00:00", workspaces=3, users=20, memberships=26, agents=17,
                     runs=50, events=475, generated_seconds=1.2, data_end_after_appends="2026-12-03T05:59:00+00:00"),
        machine=Machine(cpu="test cpu", cores=2, memory_gib=23.5, os="Linux", python="3.11.7",
                        postgres="PostgreSQL 15", server="database 'x'", settings={"work_mem": "4MB"}),
        builds=Builds(full=build(20.0), no_change=build(8.0), append_1h=[build(9.0, appended)],
                      append_1d=[build(11.0, appended)]),
        aggregation=Aggregation(
            ours=AggregationTiming(days=["2026-12-02"], timings=summary([0.05]), computes="everything"),
            naive=AggregationTiming(days=["2026-12-02"], timings=summary([0.5]), all_days=summary([0.5, 0.6]),
                                    computes="9 of the 30 columns"),
        ),
        refresh=Refresh(ours=views, naive={
            "mv_active_users": RefreshTiming(timings=summary([]), timed_out_after_s=600.0),
            "all": RefreshTiming(timings=summary([]), unavailable=refresh_unavailable()),
        }),
        naive=NaiveBaseline(load_seconds=0.3, copied_from_ours={"alert_rules": 4}, time_limit_s=600.0,
                            first_fill_s={"mv_active_users": None, "mv_top_agents": 0.25}),
        dashboard=[
            DashboardEntry(name="daily_30d", what="daily figures", ours={"member": timing([1.0, 2.0, 3.0])},
                           naive={"member": timing([10.0, 20.0, 30.0])}, ratio={"member": 0.1}),
            DashboardEntry(name="top_agents", what="top agents", ours={"service": timing([1.0])},
                           naive={"service": QueryTiming(timings=summary([], unit="ms"), unavailable="not populated")},
                           ratio={"service": None}),
        ],
        explain=[ExplainedQuery(query="daily_30d", role="member", schema="naive", plan=PlanSummary(
            planning_ms=0.2, execution_ms=3.1, shared_hit=40, shared_read=2, whole_table_scans=["naive.user_activity"],
            scans=[Scan(node="Seq Scan", relation="naive.user_activity", index=None, rows=475, whole_table=True)],
        ))],
        indexes=IndexReport(
            unused=[UnusedIndex(index="analytics.idx_x", table="analytics.x", bytes=8192, definition="CREATE INDEX",
                                enforces=None)],
            covered=[CoveredIndex(index="naive.idx_a", covered_by="naive.idx_ab", table="naive.t", bytes=16384)],
        ),
        storage=Storage(
            months_of_data=0.3, bytes_per_run=512.0, ours=footprint(["analytics", "analytics_internal"], 2_000_000),
            naive=footprint(["naive"], 3_000_000),
            tables=[TableSize(schema="naive", table="mv_top_agents", kind="m", rows=0, populated=False,
                              table_bytes=0, index_bytes=0, bytes_per_row=None),
                    TableSize(schema="public", table="agent_runs", kind="r", rows=50, populated=True,
                              table_bytes=16384, index_bytes=8192, bytes_per_row=491.5)],
        ),
        ingestion=Ingestion(
            ours={path: rate(200, 0.5) for path in ("track_event", "insert_single", "insert_batched_1000", "copy")},
            naive={path: rate(200, 0.6) for path in ("insert_single", "insert_batched_1000", "copy")},
        ),
        retention=Retention(ours=RetentionTiming(seconds=0.01, events_removed=5, events_kept=470),
                            naive=RetentionTiming(seconds=0.2, events_removed=5, events_kept=470,
                                                  hourly_rows_removed=2), ratio=0.05),
        seconds=56.0,
        alerts=AlertEvaluation(rules=10_000, evaluated_at="2026-12-03T05:59:00+00:00", firing=120,
                               ours=summary([0.4, 0.5]), per_rule=summary([6.0, 6.5]), ratio=0.0722),
        concurrency={"top_agents": {
            "ours-member": {"prepared": {"8": LoadTiming(tps=4000.0, latency=summary([0.002, 0.004], unit="ms"))}},
            "ours-service": {"prepared": {"8": LoadTiming(tps=5000.0, latency=summary([0.001, 0.003], unit="ms"),
                                                          rows_median=0)}},
            "naive": {"prepared": {"8": LoadTiming(tps=None, latency=summary([], unit="ms"),
                                                   unavailable="not populated")},
                      "simple": {"8": LoadTiming(tps=None, latency=summary([], unit="ms"), timed_out_after_s=10.0)}},
        }},
        load_window=LoadWindow(started_at="2026-12-03T06:10:00+00:00", ended_at="2026-12-03T06:40:00+00:00"),
    )


def refresh_unavailable() -> str:
    return "not populated: its first fill ran past the time limit"


def test_results_read_back_from_the_json_they_are_written_to():
    written = sample_results()
    assert BenchResults.from_json(json.loads(json.dumps(written.to_json()))) == written


def test_the_json_keeps_its_keys_figures_inline_and_absent_figures_left_out():
    written = sample_results().to_json()
    assert list(written["dashboard"][0]["ours"]["member"]) == [
        "n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "rows_median", "empty_results"]
    assert written["dashboard"][1]["naive"]["service"] == {"n": 0, "unavailable": "not populated"}
    assert written["refresh"]["naive"]["mv_active_users"] == {"n": 0, "timed_out_after_s": 600.0}
    assert "appended" not in written["builds"]["full"] and "appended" in written["builds"]["append_1h"][0]
    assert list(written["aggregation"]["naive"]) == ["days", "n", "p50_s", "p95_s", "p99_s", "max_s", "all_days",
                                                     "computes"]
    assert written["explain"][0]["planning_ms"] == 0.2 and written["explain"][0]["query"] == "daily_30d"
    assert "hourly_rows_removed" in written["retention"]["ours"]
    assert written["concurrency"]["top_agents"]["naive"]["simple"]["8"] == {
        "tps": None, "latency": {"n": 0}, "timed_out_after_s": 10.0}


def test_results_written_before_the_figures_were_typed_read_back(tmp_path):
    """Files of earlier runs kept sizes summed over partitions as text (a decimal), runs from
    before --days carry no label, and runs from before 2026-12-06 no load window (their report
    has no clock line)."""
    older = sample_results().to_json()
    older["storage"]["tables"][1]["bytes_per_row"] = "491.5"
    del older["label"]
    del older["load_window"]
    read = BenchResults.from_json(older)
    assert read.storage.tables[1].bytes_per_row == 491.5 and read.label == "tiny" and read.load_window is None
    report.write(read, tmp_path)
    assert "server's clock" not in (tmp_path / "tiny.md").read_text(encoding="utf-8")


def test_the_report_and_its_plots_are_drawn_from_the_results(tmp_path):
    written = report.write(sample_results(), tmp_path)
    assert [path.name for path in written] == [
        "tiny.json", "tiny.md", "tiny-dashboard.png", "tiny-load.png", "tiny-builds.png", "tiny-refresh.png",
        "tiny-storage.png"]
    assert report.read(tmp_path / "tiny.json") == sample_results()
    text = (tmp_path / "tiny.md").read_text(encoding="utf-8")
    assert "| top_agents | service | 1.00 | 1.00 | 1.00 | – | – | – | – | 3 / – (naive: not populated) |" in text
    assert "| mv_active_users | 0.015 | > 600 (stopped at the limit) | more than 40,000× faster | 50.0 kB | – |" in text
    assert "| daily_30d | member | 2.00 | 2.90 | 2.98 | 20.00 | 29.00 | 29.80 | 10.0× faster | 3 / 3 |" in text
    assert "| after --append 1h | 9.0 | 8.0 | 120 (7) | 12 / 3 |" in text
    assert "| ours: `evaluate_alerts()`, one pass | 0.450 | 0.495 | 2 |" in text
    assert "| top_agents | simple | 8 | – | – | a request ran past 10 s | – | – |" in text
    assert "Speed-up: 13.9× faster." in text
    assert "| top_agents | prepared | 8 | 4,000 / 3.9 | 5,000 / 2.9 (no rows) | not filled | 0.80 | – |" in text
    clock = ("By the server's clock (not moved), the data end Thu 2026-12-03 05:59 UTC and the load ran "
             "Thu 2026-12-03 06:10 to Thu 2026-12-03 06:40 UTC: the current UTC day was 6.2 to 6.7 hours old.")
    assert f"## Dashboard queries under load\n\n{clock}\n\npgbench" in text


def test_a_benchmark_load_that_crossed_midnight_says_so_and_how_to_avoid_it(tmp_path):
    results = dataclasses.replace(sample_results(), load_window=LoadWindow(
        started_at="2026-12-03T23:50:00+00:00", ended_at="2026-12-04T00:20:00+00:00"))
    report.write(results, tmp_path)
    text = (tmp_path / "tiny.md").read_text(encoding="utf-8")
    assert "23.8 to 0.3 hours old. The load crossed 00:00 UTC" in text
    assert "start the benchmark earlier, or measure the section alone at a chosen hour" in text


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


def test_each_refresh_reports_the_wal_it_wrote_and_rewriting_rows_writes_more(built):
    """The refresh section's WAL figure: measured for every table and for the whole refresh, and
    larger when the refresh has rows to write again (every row of mv_active_users changed by
    hand) than when it has none. The figure is the cluster's WAL, so a checkpoint's first page
    images or an autovacuum that falls inside one quiet refresh inflate it (a CI run saw 46 kB
    against the rewrite's 17 kB): the quiet figure is the median of three."""
    bench_database = data.RunDatabase(built.target, None, Path("."))
    quiet = maintenance.our_refreshes(bench_database, 3, lambda *args: None)
    assert all(timing.wal_bytes_p50 is not None and timing.wal_bytes_p50 >= 0 for timing in quiet.values())
    with built.connect() as conn:
        changed_rows = conn.execute(
            "update analytics.mv_active_users set daily_active_users = daily_active_users + 1").rowcount
    rewriting = maintenance.our_refreshes(bench_database, 1, lambda *args: None)
    assert changed_rows > 0
    assert rewriting["mv_active_users"].wal_bytes_p50 > quiet["mv_active_users"].wal_bytes_p50


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


@pytest.mark.parametrize("query", queries.load_queries(), ids=lambda query: query.name)
def test_every_dashboard_query_runs_for_a_member_and_service_role_on_both_schemas(with_naive, query):
    with with_naive.connect() as conn:
        params = queries.sample_parameters(conn, 1, 3)[0]
        for role in query.roles:
            for schema in ("analytics", "naive"):
                with conn.transaction():
                    queries.become(conn, role, params["user_id"])
                    conn.execute(query.statement(schema, role), params).fetchall()


@pytest.mark.parametrize("query", queries.load_queries(), ids=lambda query: query.name)
def test_every_dashboard_query_runs_under_pgbench_for_each_caller_and_protocol(with_naive, query):
    """The load section's requests (the member's claims, the parameters quoted for the simple
    protocol and bound for the prepared one) run without error, with a latency per transaction."""
    with with_naive.connect() as conn:
        parameters = queries.sample_parameters(conn, 5, 3)
    bench_database = data.RunDatabase(with_naive.target, None, Path("."))
    load = concurrency.concurrency(bench_database, [query], parameters, 1, lambda *args: None, clients=(2,),
                                   transactions=3)
    callers = {"ours-member", "ours-service", "naive"} if "service" in query.roles else {"ours-member"}
    assert set(load[query.name]) == callers
    for by_protocol in load[query.name].values():
        assert set(by_protocol) == {"simple", "prepared"}
        for timing in (by_protocol["simple"]["2"], by_protocol["prepared"]["2"]):
            assert timing.unavailable is None and timing.tps and timing.latency.n == 6
            assert timing.rows_median is not None
    with with_naive.connect() as conn:
        assert conn.execute("select to_regnamespace('bench_load')").fetchone()[0] is None


def test_the_rows_a_request_returns_are_counted_within_a_time_limit(with_naive):
    """A request that runs past the limit is counted as unknown instead of holding up the run."""
    with with_naive.connect() as conn:
        parameters = queries.sample_parameters(conn, 5, 3)
        quick = queries.DashboardQuery(name="quick", what="two rows", text="select 1 union all select 2")
        slow = queries.DashboardQuery(name="slow", what="sleeps", text="select pg_sleep(5)")
        assert concurrency.rows_returned(conn, quick, "service", "analytics", parameters) == concurrency.RequestProbe(
            rows=2)
        started = time.monotonic()
        probe = concurrency.rows_returned(conn, slow, "service", "analytics", parameters, limit_seconds=0.2)
        assert probe == concurrency.RequestProbe(rows=None, timed_out_after_s=0.2)
        assert time.monotonic() - started < 3


def test_a_request_slower_than_the_probes_limit_is_not_put_under_load(with_naive):
    """pgbench ends a cell only when its requests in flight end: a request taking minutes (naive's
    activation_weekly at large) would hold every cell of it up. Its cells say why they are empty,
    in the results and in the report."""
    with with_naive.connect() as conn:
        parameters = queries.sample_parameters(conn, 5, 3)
        # counts the requests that ran: a sequence's nextval survives the cancelled statement
        conn.execute("create schema slow_probe")
        conn.execute("create sequence slow_probe.requests")
        conn.execute("grant usage on schema slow_probe to authenticated, service_role")
        conn.execute("grant usage on sequence slow_probe.requests to authenticated, service_role")
    slow = queries.DashboardQuery(name="slow", what="sleeps",
                                  text="select nextval('slow_probe.requests'), pg_sleep(3)")
    try:
        load = concurrency.concurrency(data.RunDatabase(with_naive.target, None, Path(".")), [slow], parameters, 1,
                                       lambda *args: None, clients=(2,), transactions=2, rounds=2,
                                       probe_limit_seconds=0.2)
        with with_naive.connect() as conn:
            # one probe per caller, each stopped at its first request; no pgbench request
            assert conn.execute("select last_value from slow_probe.requests").fetchone()[0] == 3
    finally:
        with with_naive.connect() as conn:
            conn.execute("drop schema slow_probe cascade")
    cells = [timing for by_protocol in load["slow"].values() for by_count in by_protocol.values()
             for timing in by_count.values()]
    assert len(cells) == 3 * 2
    assert all(cell.tps is None and cell.timed_out_after_s == 0.2 and cell.latency.n == 0 for cell in cells)
    assert "| slow | simple | 2 | a request ran past 0.2 s |" in "\n".join(report.load_table(load, 1, 2))
    # a run of so many transactions says so, and that its figures are no measurement
    quick = "\n".join(report.load_table(load, 5, 2, transactions=2))
    assert "pgbench, 2 transactions per client in each cell (a quick run: its figures are no measurement)" in quick
    assert "5 s per cell" not in quick


def test_a_load_section_of_no_transactions_is_refused_by_name(tmp_path):
    with pytest.raises(bench.BenchError, match="--load-transactions must be at least 1"):
        bench.BenchOptions("tiny", tmp_path, load_transactions=0).check()
    with pytest.raises(bench.BenchError, match="--load-seconds 0 leaves out"):
        bench.BenchOptions("tiny", tmp_path, load_transactions=5, load_seconds=0).check()
    assert bench.BenchOptions("tiny", tmp_path, load_transactions=5).recorded().load_transactions == 5


def test_a_cells_rounds_give_the_median_tps_and_every_transactions_latency():
    runs = [concurrency.PgbenchRun(tps=tps, latencies=[tps / 1000] * 2) for tps in (900.0, 3000.0, 1000.0)]
    timing = concurrency.combined(runs, concurrency.RequestProbe(rows=4))
    assert timing.tps == 1000.0 and timing.latency.n == 6 and timing.latency.max == 3000.0 and timing.rows_median == 4
    missing = concurrency.PgbenchRun(tps=None, latencies=[], unavailable='materialized view "x" has not been populated')
    unknown = concurrency.RequestProbe(rows=None)
    assert concurrency.combined([runs[0], missing], unknown).unavailable == missing.unavailable


def test_the_live_snapshot_is_taken_beside_the_queries_that_read_it_and_only_then(with_naive, monkeypatch):
    """The worker takes the live snapshot every 30 s and the live functions answer from it: the
    dashboard and load sections take it the same way while they time a query that reads it, so
    that the figures are those of a project with its worker, the refresh's cost included."""
    assert {query.name for query in queries.load_queries() if query.live_snapshot} == {
        "hourly_today_live", "today_live"}
    bench_database = data.RunDatabase(with_naive.target, None, Path("."))

    def taken() -> list:
        return with_naive.rows("select taken_at from analytics_internal.live_snapshots order by kind")

    with with_naive.connect() as conn:
        parameters = queries.sample_parameters(conn, 5, 3)
        conn.execute("delete from analytics_internal.live_snapshots")
    # what the snapshot's table held each time the load section entered the block
    seen_on_entry = []
    taking = concurrency.live_snapshot_taken

    @contextlib.contextmanager
    def watched(bench_database: data.RunDatabase) -> Iterator[None]:
        with taking(bench_database):
            seen_on_entry.append(taken())
            yield

    try:
        plain = queries.DashboardQuery(name="plain", what="one row", text="select 1")
        live = dataclasses.replace(plain, live_snapshot=True)
        with monkeypatch.context() as patch:
            patch.setattr(concurrency, "live_snapshot_taken", watched)
            patch.setattr(queries, "live_snapshot_taken", watched)
            concurrency.concurrency(bench_database, [plain], parameters, 1, lambda *args: None, clients=(1,),
                                    protocols=("simple",), transactions=1)
            queries.dashboard(bench_database, [plain], parameters, 1, lambda *args: None)
            assert seen_on_entry == []
            concurrency.concurrency(bench_database, [live], parameters, 1, lambda *args: None, clients=(1,),
                                    protocols=("simple",), transactions=1)
            assert len(seen_on_entry) == 1 and len(seen_on_entry[0]) == 2
            queries.dashboard(bench_database, [live], parameters, 1, lambda *args: None)
            assert len(seen_on_entry) == 2 and len(seen_on_entry[1]) == 2
        with live_snapshot.live_snapshot_taken(bench_database, every_s=0.2):
            first = taken()
            assert len(first) == 2
            time.sleep(1.0)
            assert taken() > first
        # forgotten after: what the benchmark runs next computes, as without a worker
        assert taken() == []
    finally:
        with with_naive.connect() as conn:
            conn.execute("delete from analytics_internal.live_snapshots")


def test_each_pgbench_request_runs_as_its_caller_with_the_sampled_parameters(with_naive):
    """The load section's requests are who they claim: a probe that divides by zero unless the
    role, auth.uid() and a bound timestamp are the sampled row's, under both protocols."""
    with with_naive.connect() as conn:
        parameters = queries.sample_parameters(conn, 5, 3)
    probe = queries.DashboardQuery(name="probe", what="who asks", text=(
        "select 1 / (case when current_user = 'service_role' and auth.uid() is null "
        "and %(until)s::timestamptz > %(since_7d)s then 1 else 0 end)"
    ), member_text=(
        "select 1 / (case when current_user = 'authenticated' and auth.uid() = %(user_id)s "
        "and %(until)s::timestamptz > %(since_7d)s then 1 else 0 end)"
    ))
    load = concurrency.concurrency(data.RunDatabase(with_naive.target, None, Path(".")), [probe], parameters, 1,
                                   lambda *args: None, clients=(2,), transactions=5, rounds=2)
    # two rounds of 2 clients × 5 transactions each
    assert all(timing.latency.n == 20 and timing.rows_median == 1 for by_protocol in load["probe"].values()
               for timing in (by_protocol["simple"]["2"], by_protocol["prepared"]["2"]))
    wrong = dataclasses.replace(probe, member_text=probe.member_text.replace("= %(user_id)s", "<> %(user_id)s"))
    with pytest.raises(bench.BenchError, match="division by zero"):
        concurrency.concurrency(data.RunDatabase(with_naive.target, None, Path(".")), [wrong], parameters, 1,
                                lambda *args: None, clients=(1,), protocols=("simple",), transactions=1)


def test_members_see_only_their_workspaces_in_the_member_dashboard_queries(with_naive):
    with with_naive.connect() as conn:
        user_id, workspace_id = conn.execute(
            "select user_id, min(workspace_id::text)::uuid from public.workspace_members group by user_id "
            "having count(*) = 1 limit 1"
        ).fetchone()
        query = next(query for query in queries.load_queries() if query.name == "my_workspaces_30d")
        with acting_as(conn, "authenticated", user_id):
            rows = conn.execute(query.statement("analytics", "member"), {}).fetchall()
        assert rows and {row[0] for row in rows} == {workspace_id}


def test_anon_cannot_read_the_dashboard_tables(with_naive):
    with with_naive.connect() as conn:
        with acting_as(conn, "anon"), pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from analytics.daily_metrics limit 1")


def test_a_copy_of_kept_data_is_owned_like_the_original_so_that_the_run_may_create_schemas(built, test_server):
    copy = f"{built.target.dbname}_copy"
    data.clone_database(test_server, built.target.dbname, copy)
    try:
        with db.connect(built.target.with_database(copy)) as conn:
            assert conn.execute(
                "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"
            ).fetchone()[0] == built.target.user
            conn.execute("create schema naive_copy_check")
    finally:
        db.drop_database(test_server.admin, copy)


def test_storage_reports_a_naive_view_that_never_filled_as_empty_instead_of_failing(with_naive):
    with with_naive.connect() as conn:
        conn.execute("create materialized view naive.never_filled as select 1 as x with no data")
    try:
        measured = data.RunDatabase(with_naive.target, dataclasses.replace(
            sample_results().data, data_start="2026-01-01T00:00:00+00:00"), with_naive.target_path)
        sizes = storage.storage(measured, "2026-01-31T00:00:00+00:00")
    finally:
        with with_naive.connect() as conn:
            conn.execute("drop materialized view naive.never_filled")
    never_filled = next(table for table in sizes.tables if table.table == "never_filled")
    assert (never_filled.rows, never_filled.populated) == (0, False)
    assert sizes.ours.bytes_per_event > 0


def test_the_alert_section_evaluates_at_the_datas_end_not_at_rows_written_after_it(make_database):
    """The benchmark's ingestion writes a burst of events after its builds; evaluated at the latest
    row, every rule's window held that burst instead of the data the run measures."""
    from agent_analytics.bench import alerts

    project_db = make_database(seed=12)
    project_db.build(data_tests=False)
    with project_db.connect() as conn:
        conn.execute(naive.spec_sql_with_empty_views())
        data_end = conn.execute("select max(created_at) from analytics.user_activity").fetchone()[0]

    def states() -> dict[str, tuple]:
        with project_db.connect() as conn:
            return {name: (state, value) for name, state, value in conn.execute(
                "select r.name, s.state, s.last_value from analytics.alert_rule_states as s "
                "join analytics.alert_rules as r on r.id = s.alert_rule_id where r.is_active")}

    first = alerts.alert_evaluation(project_db.target, 1, 60, lambda *args: None, rules=60, at=data_end)
    before = states()
    assert first.evaluated_at == data_end.isoformat() and before
    with project_db.connect() as conn:
        # a burst like the ingestion section's: errors in every workspace, after the data's end
        conn.execute("""
            insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, created_at)
            select m.user_id, m.workspace_id, 'error', 'burst', %s + make_interval(secs => n)
            from (select distinct on (workspace_id) workspace_id, user_id from public.workspace_members
                  order by workspace_id, user_id) as m
            cross join generate_series(1, 40) as n""", (data_end,))
    again = alerts.alert_evaluation(project_db.target, 1, 60, lambda *args: None, rules=60, at=data_end)
    assert again.evaluated_at == data_end.isoformat()
    assert states() == before, "rows written after the data's end moved what the rules saw"
    latest = alerts.alert_evaluation(project_db.target, 1, 60, lambda *args: None, rules=60)
    assert latest.evaluated_at > data_end.isoformat()
    assert states() != before, "the burst is big enough to move the rules when it is inside their windows"


def test_the_reports_server_settings_name_the_durability_ones(built, tmp_path):
    """A throwaway cluster turns fsync and full-page writes off, which moves the builds',
    ingestion's and the WAL figures: a report has to say which it ran with."""
    from agent_analytics.bench import machine

    described = machine.describe(data.RunDatabase(built.target, None, tmp_path))
    assert {"fsync", "full_page_writes", "synchronous_commit"} <= described.settings.keys()
    assert described.settings["fsync"] in ("on", "off")
