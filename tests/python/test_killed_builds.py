"""A build that dies part way loses nothing. The scheduled build (`agent-analytics build`, a
process of its own) is killed with SIGKILL at many points while the app keeps writing, and
started again each time; once the writes stop and one build completes, every rollup and
materialized view equals a full refresh on the same data and the independent computation, and
every event and run is counted once. The same after PostgreSQL itself crashes during a build.

Each point is reached deterministically: the test holds a lock that the build takes only there,
and stops the build once one of its backends waits for that lock. Locks, not the `pause_before`
var: a var that differs from the last invocation's makes dbt parse the whole project again,
which cost each killed build 10 s on a busy machine. Every model commits its rows and its
watermark in one transaction, so a kill leaves some models of a build done and the others as
an earlier build left them; the next build takes in, for each model, all since its own
watermark."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from agent_analytics import bootstrap, cluster, db, dbt, generate, postmaster
from conftest import PROJECT, WITHOUT_DATA_TESTS, ProjectDatabase, ServerLog, chosen_binaries, wait_until
from test_concurrent_writes import assert_equal_to_a_full_refresh, write_like_the_app
from test_metrics import add_awkward_changes, check_every_metric

AGENT_ANALYTICS = str(Path(sys.executable).with_name("agent-analytics"))
PLATFORM_SCOPE = "00000000-0000-0000-0000-000000000000"
# Long enough for a build on two busy cores to reach its last point; a build that never gets
# there fails the test instead of hanging it.
REACH_SECONDS = 180
# Between two of the app's transactions: a writer flat out took a core from the builds and
# multiplied the data twentyfold, and the builds took several times as long.
WRITE_PAUSE = 0.3
# Only the build that finishes after the kills runs dbt's data tests (conftest.WITHOUT_DATA_TESTS).
ONLY_MODELS = (*WITHOUT_DATA_TESTS, "--exclude-resource-type", "unit_test")


@dataclass(frozen=True)
class Point:
    """A moment of a build. The test runs `hold` in a transaction of its own and the build waits
    at the point for the lock that took; `blocked` is in the statement that waits. `model` is
    the model the build is in: the grains (the models that record watermarks) upstream of it
    must have recorded the build's cut, and it and the grains downstream cannot have; a point in
    the on-run-start hooks comes before the build records its cut."""

    name: str
    hold: str
    blocked: str
    model: str | None = None

    @classmethod
    def writing(cls, relation: str) -> Point:
        # The model's select has filled a temporary table; the delete and MERGE into the target
        # need ROW EXCLUSIVE, which SHARE holds off.
        model = relation.split(".")[-1]
        return cls(f"{model}: writing", f"lock table {relation} in share mode", model, model)

    @classmethod
    def recording_its_watermark(cls, model: str) -> Point:
        # Its rows are written, in the transaction that records its watermark last: that
        # statement waits for the watermark's row.
        return cls(f"{model}: written, recording its watermark",
                   f"select from analytics_internal.build_watermarks where model_name = '{model}' for update",
                   "build_watermarks", model)


# In the order a build reaches them; each killed build costs seconds of dbt starting up, so they
# are a handful. The last is in the refresh of a table that stands in for a materialized view:
# its rows deleted and the query's not yet inserted, in one transaction that the kill undoes.
KILL_POINTS = (
    Point("on-run-start: recording the build's cut", "lock table analytics_internal.build_cuts in share mode",
          "build_cuts"),
    Point("stg_app__agent_runs: replacing the view",
          "lock table analytics_internal.stg_app__agent_runs in access share mode", "stg_app__agent_runs",
          "stg_app__agent_runs"),
    Point.writing("analytics_internal.int_user_activity_hours"),
    Point.writing("analytics.hourly_metrics"),
    Point.recording_its_watermark("int_user_first_seen"),
    Point.writing("analytics.daily_metrics"),
    Point.writing("analytics.user_cohorts"),
    # its refresh function takes EXCLUSIVE, which SHARE holds off
    Point("mv_top_agents: refreshing", "lock table analytics.mv_top_agents in share mode", "refresh_mv_top_agents",
          "mv_top_agents"),
)


def start_build(project_db: ProjectDatabase, logs: Path, *dbt_args: str) -> subprocess.Popen:
    """The scheduled build as cron starts it, in a process group of its own: SIGKILL to the group
    reaches agent-analytics and the dbt it runs, as when a job runner kills a job. Its output
    goes to a file, which never fills up and blocks it as a pipe would; dbt's log, as JSON, to
    the same folder (invocation_id)."""
    logs.mkdir()
    env = dbt.dbt_environment(project_db.target, {"DBT_LOG_PATH": str(logs), "DBT_LOG_FORMAT_FILE": "json"})
    with (logs / "output.txt").open("w") as output:
        return subprocess.Popen(
            [AGENT_ANALYTICS, "build", "--target-path", str(project_db.target_path), *dbt_args],
            cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def output_of(logs: Path) -> str:
    return (logs / "output.txt").read_text()[-3000:]


def invocation_id(logs: Path) -> str:
    """The build's invocation id, which keys its cut in build_cuts; every line of dbt's JSON log
    carries it."""
    with (logs / "dbt.log").open() as log:
        return json.loads(log.readline())["info"]["invocation_id"]


@contextmanager
def build_stopped_at(project_db: ProjectDatabase, point: Point, observer: psycopg.Connection, logs: Path,
                     *dbt_args: str) -> Iterator[tuple[subprocess.Popen, list[tuple]]]:
    """The scheduled build, once a backend of it waits at the point for the test's lock (held as
    supabase_admin until the block ends); and the build's backends, each as its pid and start
    (dbt connects as application_name 'dbt'). The observer is another connection than the
    holder's: a transaction reads pg_stat_activity once and then keeps what it read."""
    holder = project_db.connect_as(cluster.ADMIN_USER)
    holder.autocommit = False
    build = None
    try:
        holder.execute(point.hold)
        build = start_build(project_db, logs, *dbt_args)

        def blocked_backends() -> list[tuple]:
            assert build.poll() is None, f"the build ended before {point.name}:\n{output_of(logs)}"
            return observer.execute(
                "select query from pg_stat_activity where application_name = 'dbt' and %s = any(pg_blocking_pids(pid))",
                (holder.info.backend_pid,),
            ).fetchall()

        waiting = wait_until(blocked_backends, f"the build did not reach {point.name} in {REACH_SECONDS} s",
                             REACH_SECONDS)
        assert point.blocked in waiting[0][0], f"{point.name}: the build waits elsewhere:\n{waiting[0][0][:2000]}"
        backends = observer.execute(
            "select pid, backend_start from pg_stat_activity where application_name = 'dbt' "
            "and datname = current_database()"
        ).fetchall()
        yield build, backends
    finally:
        if build is not None and build.poll() is None:
            os.killpg(build.pid, signal.SIGKILL)
            build.wait()
        holder.close()


def grains_done(conn: psycopg.Connection, logs: Path) -> list[str] | None:
    """The grains that a build committed: those whose watermark is its cut; None when it
    recorded no cut."""
    found = conn.execute(
        "select cut from analytics_internal.build_cuts where invocation_id = %s", (invocation_id(logs),)
    ).fetchall()
    if not found:
        return None
    return [model for (model,) in conn.execute(
        "select model_name from analytics_internal.build_watermarks where read_start = %s order by 1", found[0]
    ).fetchall()]


class Lineage:
    """Which grains a model reads from and which read from it, from the manifest of the last
    build: dbt starts a model only once everything it reads from has been built."""

    def __init__(self, project_db: ProjectDatabase) -> None:
        manifest = json.loads((project_db.target_path / "manifest.json").read_text())
        self.parents = {
            node.rsplit(".", 1)[-1]: {parent.rsplit(".", 1)[-1] for parent in parents if parent.startswith("model.")}
            for node, parents in manifest["parent_map"].items() if node.startswith("model.")
        }
        self.grains = {model for (model,) in project_db.rows("select model_name from analytics_internal.build_watermarks")}

    def ancestors(self, model: str) -> set[str]:
        found, todo = set(), [model]
        while todo:
            for parent in self.parents[todo.pop()] - found:
                found.add(parent)
                todo.append(parent)
        return found

    def check_stopped_at(self, point: Point, done: list[str] | None) -> None:
        """The watermarks say where the build was when it stopped: which grains it had committed."""
        if point.model is None:
            assert done is None, f"{point.name}: the build had recorded its cut"
            return
        assert done is not None, f"{point.name}: the build had recorded no cut"
        missing = (self.ancestors(point.model) & self.grains) - set(done)
        assert not missing, f"{point.name}: {sorted(missing)}, upstream, had not recorded the cut"
        early = {grain for grain in done if grain == point.model or point.model in self.ancestors(grain)}
        assert not early, f"{point.name}: {sorted(early)} had recorded the cut"


def assert_each_event_and_run_counted_once(project_db: ProjectDatabase) -> None:
    """Counted from the raw rows: each event once in its user-hour and once in its platform-wide
    user-day, each run once in its day's platform-wide row."""
    pairs = {
        "events per UTC hour (int_user_activity_hours)": (
            "select activity_hour, sum(event_count) from analytics_internal.int_user_activity_hours "
            "group by 1 having sum(event_count) > 0",
            "select date_trunc('hour', created_at, 'UTC'), count(*) from analytics.user_activity group by 1",
        ),
        "events per UTC day, platform-wide (int_user_scope_days)": (
            "select activity_date, sum(event_count) from analytics_internal.int_user_scope_days "
            f"where scope_id = '{PLATFORM_SCOPE}' group by 1 having sum(event_count) > 0",
            "select (created_at at time zone 'UTC')::date, count(*) from analytics.user_activity group by 1",
        ),
        "runs per UTC day, platform-wide (daily_metrics)": (
            "select metric_date, total_runs from analytics.daily_metrics where workspace_id is null and total_runs > 0",
            "select (started_at at time zone 'UTC')::date, count(*) from public.agent_runs group by 1",
        ),
    }
    for what, (counted_query, raw_query) in pairs.items():
        counted, raw = dict(project_db.rows(counted_query)), dict(project_db.rows(raw_query))
        differences = sorted((key, counted.get(key), raw.get(key)) for key in counted.keys() | raw.keys()
                             if counted.get(key) != raw.get(key))
        assert not differences, f"{what}: (bucket, counted, in the raw rows) {differences[:10]}"


def test_builds_killed_part_way_while_the_app_writes_lose_nothing(make_database, admin_target, tmp_path):
    """After each kill the lock is let go and the build started again at once. SIGKILL closed the
    client's socket, but its backend goes on with its statement, as after any crash of a
    client, until it next reads from the client: then it rolls its transaction back and exits.
    The test neither waits for it nor terminates it, since the next cron run would do neither:
    the next build starts beside it (its open transaction only moves that build's cut earlier).
    An on-run-start hook runs outside a transaction block, so there the orphan's statement
    commits: a cut for a build that is gone, which no model reads. That every orphan did end
    is checked at the end."""
    project_db = make_database(seed=62)
    project_db.build(*ONLY_MODELS, artifacts=True)
    lineage = Lineage(project_db)
    stop = threading.Event()
    written: list[dict[str, int]] = []
    writer = threading.Thread(target=lambda: written.append(write_like_the_app(project_db.target, stop, 62,
                                                                               WRITE_PAUSE)))
    writer.start()
    orphans: list[tuple] = []
    try:
        with project_db.connect_as(cluster.ADMIN_USER) as observer:
            for number, point in enumerate(KILL_POINTS):
                logs = tmp_path / f"killed-{number}"
                with build_stopped_at(project_db, point, observer, logs, *WITHOUT_DATA_TESTS) as (build, backends):
                    os.killpg(build.pid, signal.SIGKILL)
                    assert build.wait() == -signal.SIGKILL
                    # Read while the killed build's backend still waits: it commits nothing after.
                    lineage.check_stopped_at(point, grains_done(observer, logs))
                    orphans += backends
    finally:
        stop.set()
        writer.join()
    assert written and written[0]["events"] > 50 and written[0]["runs_updated"] > 10, written

    finished = tmp_path / "finished"
    assert start_build(project_db, finished).wait(timeout=REACH_SECONDS) == 0, output_of(finished)
    left = [row for row in project_db.rows("select pid, backend_start, state, query from pg_stat_activity")
            if row[:2] in orphans]
    assert not left, f"backends of killed builds are still there: {left}"
    # the pipeline's record: each killed build was marked abandoned by the next one, which succeeded
    assert project_db.rows("select outcome, count(*) from analytics.pipeline_runs where step = 'build' "
                           "group by 1 order by 1") == [("abandoned", len(KILL_POINTS)), ("succeeded", 1)]
    check_every_metric(project_db)
    assert_each_event_and_run_counted_once(project_db)
    assert_equal_to_a_full_refresh(project_db, admin_target, *ONLY_MODELS)


@pytest.fixture(scope="module")
def crashable(data_end, tmp_path_factory) -> Iterator[tuple[ProjectDatabase, cluster.Cluster]]:
    """A cluster of this module's own, since a test crashes it, built like the session's; and in
    it a database made as deployed_template and make_database make theirs: Supabase's layer, the
    demo app, the deploy and tiny generated data. The crash is an immediate shutdown, so no fsync
    loses nothing: the kernel still holds every write. But a commit must wait for its WAL to
    reach the kernel, as on Supabase (synchronous_commit on): with the throwaway settings' off, a
    crash lost the last commits the server had acknowledged, an upstream model's among them,
    which the build's later models, run on the restarted server, then read without them (a CI
    run on a loaded machine failed so)."""
    folder = Path(tempfile.mkdtemp(prefix="aa-test-pg-crash-"))
    server = cluster.Cluster(chosen_binaries(), folder / "data", folder / "run", throwaway=True,
                             settings={"synchronous_commit": "on"})
    try:
        server.create()
        made = cluster.create_supabase_database(server.server(), "aa_test_crashed")
        project_db = ProjectDatabase(made, tmp_path_factory.mktemp("dbt-target-crashed"), data_end)
        bootstrap.prepare_demo_database(made, ("--target-path", str(project_db.target_path)))
        with db.connect(made.admin) as conn:
            generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES["tiny"], seed=63, end=data_end))
        yield project_db, server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def crash_and_restart(server: cluster.Cluster) -> None:
    """An immediate shutdown (what `pg_ctl stop -m immediate` sends, SIGQUIT to the postmaster):
    every backend ends at once, with no checkpoint, as in a crash; the start after it recovers
    from the WAL."""
    pid = postmaster.server_pid(server.data_dir)
    os.kill(pid, signal.SIGQUIT)
    wait_until(lambda: not postmaster.is_server_of(pid, server.data_dir), "the server did not stop in 60 s", 60)
    server.start()


def test_a_build_during_which_postgresql_crashes_fails_and_the_next_loses_nothing(crashable, tmp_path):
    project_db, server = crashable
    assert project_db.value("show synchronous_commit") == "on"  # crashable says why
    project_db.build(*ONLY_MODELS, artifacts=True)
    lineage = Lineage(project_db)
    add_awkward_changes(project_db)  # committed before the build: in its cut
    point = Point.recording_its_watermark("hourly_metrics")
    crashed = tmp_path / "crashed"
    log = ServerLog.from_now(server.log_file)
    with project_db.connect_as(cluster.ADMIN_USER) as observer, \
            build_stopped_at(project_db, point, observer, crashed, *WITHOUT_DATA_TESTS) as (build, _):
        # committed after the build's cut, while hourly_metrics waits with its rows written
        with project_db.connect() as conn:
            conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type, created_at) "
                         "select user_id, workspace_id, 'feature_use', now() - interval '26 hours' "
                         "from public.workspace_members order by user_id limit 1")
            conn.execute("update public.agent_runs set status = 'cancelled', completed_at = now() "
                         "where id = (select id from public.agent_runs where status <> 'cancelled' order by id limit 1)")
        crash_and_restart(server)
        # dbt runs on: each node left fails on the lost connection or while the server recovers
        assert build.wait(timeout=REACH_SECONDS) == 1, output_of(crashed)
    assert "automatic recovery in progress" in log.since_mark()
    output = (crashed / "output.txt").read_text()
    assert "Database Error in model hourly_metrics" in output and "Traceback" not in output, output[-3000:]
    assert output.splitlines()[-1].startswith("error: `dbt build"), output[-3000:]
    with project_db.connect() as conn:
        lineage.check_stopped_at(point, grains_done(conn, crashed))

    restarted = tmp_path / "restarted"
    build = start_build(project_db, restarted, *WITHOUT_DATA_TESTS)
    assert build.wait(timeout=REACH_SECONDS) == 0, output_of(restarted)
    check_every_metric(project_db)
    assert_each_event_and_run_counted_once(project_db)
    assert_equal_to_a_full_refresh(project_db, server.admin(), *ONLY_MODELS)


def test_a_build_commits_durably_where_the_database_commits_asynchronously(crashable):
    """With synchronous_commit off, a commit is acknowledged before its WAL leaves the server's
    memory, and the WAL writer writes the last partial page of WAL once per wal_writer_delay: a
    crash within it loses the commit. Ten seconds of it make the window certain; the build's
    commits must survive a crash at once after it (commit_durably), its cut and its watermarks
    with them, as a build that then goes on after the restart counts on."""
    project_db, server = crashable
    dbname = project_db.target.dbname
    watermarks = "select model_name, read_start, built_at from analytics_internal.build_watermarks order by 1"
    with project_db.connect_as(cluster.ADMIN_USER) as admin:
        admin.execute(f'alter database "{dbname}" set synchronous_commit = off')
        admin.execute("alter system set wal_writer_delay = '10s'")
        admin.execute("select pg_reload_conf()")
    try:
        before = project_db.rows(watermarks)
        with project_db.connect() as conn:
            assert conn.execute("show synchronous_commit").fetchone()[0] == "off"
            conn.execute("insert into analytics.user_activity (user_id, workspace_id, event_type) "
                         "select user_id, workspace_id, 'feature_use' from public.workspace_members "
                         "order by user_id limit 1")
        project_db.build("--select", "+int_user_activity_hours", data_tests=False)
        built = project_db.rows(watermarks)
        assert built != before
        crash_and_restart(server)
        assert project_db.rows(watermarks) == built
    finally:
        with project_db.connect_as(cluster.ADMIN_USER) as admin:
            admin.execute(f'alter database "{dbname}" reset synchronous_commit')
            admin.execute("alter system reset wal_writer_delay")
            admin.execute("select pg_reload_conf()")


def test_a_build_whose_cut_was_not_recorded_moves_no_watermark(crashable, tmp_path):
    """A failed on-run-start hook does not stop dbt. When recording the build's cut fails (here
    cancelled while it waits for a lock, as a statement_timeout would), each model would take its
    own read start as its watermark, and a model would miss for good what committed between an
    upstream model's start and its own. Every model that records a watermark refuses to build
    instead, naming why, and nothing moves."""
    project_db, _ = crashable
    watermarks = "select model_name, read_start, built_at from analytics_internal.build_watermarks order by 1"
    before = project_db.rows(watermarks)
    assert before, "an earlier test of this module built the models"
    logs = tmp_path / "cut-cancelled"
    with project_db.connect_as(cluster.ADMIN_USER) as observer, \
            build_stopped_at(project_db, KILL_POINTS[0], observer, logs, *WITHOUT_DATA_TESTS) as (build, _):
        cancelled = observer.execute(
            "select pg_cancel_backend(pid) from pg_stat_activity where application_name = 'dbt' "
            "and datname = current_database() and wait_event_type = 'Lock'"
        ).fetchall()
        assert cancelled == [(True,)]
        assert build.wait(timeout=REACH_SECONDS) == 1, output_of(logs)
    output = (logs / "output.txt").read_text()
    assert "canceling statement due to user request" in output, output[-3000:]
    assert "this build recorded no cut" in output, output[-3000:]
    assert project_db.rows(watermarks) == before
