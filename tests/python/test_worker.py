"""The worker runs the schedule as real software must: each due step once per interval, a build
never twice at once, a failed step recorded, retried with backoff and told to an operator through
the alert rules, SIGTERM honoured after the running step, and the pipeline's health readable by
service_role (and nobody else) and by `agent-analytics status --json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from agent_analytics import cli, cluster, db, generate
from agent_analytics.worker.config import ConfigError, Retry, WorkerConfig
from conftest import acting_as
from test_alerts import insert_rule
from test_metrics import check_every_metric

# -- the configuration ---------------------------------------------------------------------------


def test_the_defaults_are_the_documented_schedule():
    config = WorkerConfig()
    assert {name: step.every for name, step in config.steps.items()} == {
        "partitions": timedelta(hours=6), "build": timedelta(hours=1), "live": timedelta(seconds=30),
        "alerts": timedelta(minutes=1), "retention": timedelta(days=1),
    }
    assert config.enabled() == ["partitions", "build", "live", "alerts", "retention"]


def test_a_file_changes_what_it_names_and_keeps_the_rest(tmp_path):
    path = tmp_path / "worker.toml"
    path.write_text('[build]\nevery = "15m"\n[retention]\nenabled = false\n[retry]\nfirst = "10s"\n')
    config = WorkerConfig.load(path)
    assert config.steps["build"].every == timedelta(minutes=15)
    assert config.steps["alerts"].every == timedelta(minutes=1)
    assert config.enabled() == ["partitions", "build", "live", "alerts"]
    assert config.retry == Retry(first=timedelta(seconds=10), longest=timedelta(minutes=30))


@pytest.mark.parametrize("text, message", [
    ('[build]\nevery = "hourly"\n', "[build] every must be a duration such as 30s, 5m, 1h or 1d, not 'hourly'"),
    ('[build]\nevery = "0m"\n', "[build] every must be a duration"),
    ("[build]\nevery = 60\n", "[build] every must be a duration such as 30s, 5m, 1h or 1d, not 60"),
    ('[biuld]\nevery = "1h"\n', "unknown section [biuld]"),
    ('[build]\nevry = "1h"\n', "unknown setting 'evry' in [build]"),
    ('[alerts]\nenabled = "no"\n', "[alerts] enabled must be true or false"),
    ('[retry]\nfirst = "1h"\nlongest = "1m"\n', "[retry] longest must not be shorter than [retry] first"),
    ('[build]\nevery = "9999999999d"\n', "[build] every must be at most 366 days"),
    ("[build\n", "is not valid TOML"),
])
def test_a_bad_setting_is_named(tmp_path, text, message):
    path = tmp_path / "worker.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        WorkerConfig.load(path)
    assert message in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the worker configuration"):
        WorkerConfig.load(tmp_path / "nowhere.toml")


def test_retries_wait_twice_as_long_each_time_up_to_the_longest():
    retry = Retry(first=timedelta(seconds=30), longest=timedelta(minutes=5))
    assert [retry.after(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]
    assert retry.after(10_000) == timedelta(minutes=5)
    assert Retry(first=timedelta(days=1), longest=timedelta(days=366)).after(10_000) == timedelta(days=366)


# -- the worker against a database -----------------------------------------------------------------

@pytest.fixture(scope="module")
def working(make_database):
    """A database deployed and filled, never built: the worker's first pass builds it."""
    return make_database(seed=23)


def worker_env(project_db) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(project_db.target.env())
    # a dbt target folder of the test database's own: test sessions run side by side in CI
    env["DBT_TARGET_PATH"] = str(project_db.target_path)
    env["NO_COLOR"] = "1"
    return env


def write_config(folder: Path, text: str) -> Path:
    path = folder / "worker.toml"
    path.write_text(text)
    return path


def run_worker(project_db, *args: str, timeout: float = 300) -> tuple[int, list[dict]]:
    """`agent-analytics worker` in a process of its own (it runs dbt in-process, and changes its
    environment for dbt); its exit code and its log records."""
    done = subprocess.run([sys.executable, "-m", "agent_analytics.cli", "worker", *args], env=worker_env(project_db),
                          capture_output=True, text=True, timeout=timeout, check=False)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert not [line for line in done.stdout.splitlines() if line and not line.startswith("{")], done.stdout
    return done.returncode, records


def runs(project_db) -> list[tuple]:
    return project_db.rows("select step, outcome from analytics.pipeline_runs order by id")


def step_status(project_db, step: str) -> dict:
    with project_db.connect() as conn:
        cursor = conn.execute("select * from analytics.pipeline_status where step = %s", (step,))
        names = [column.name for column in cursor.description]
        row = cursor.fetchone()
    return dict(zip(names, row)) if row else {}


def status_json(project_db, monkeypatch, capsys) -> dict:
    for key, value in project_db.target.env().items():
        monkeypatch.setenv(key, value)
    assert cli.main(["status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_one_pass_runs_every_step_builds_right_and_says_so(working, tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, '[alerts]\nevery = "1h"\n[live]\nevery = "1h"\n')
    code, records = run_worker(working, "--once", "--config", str(config))
    assert code == 0, records
    assert [(r["event"], r["step"]) for r in records if r["event"].startswith("step_")] == [
        ("step_started", "partitions"), ("step_succeeded", "partitions"),
        ("step_started", "build"), ("step_succeeded", "build"),
        ("step_started", "live"), ("step_succeeded", "live"),
        ("step_started", "alerts"), ("step_succeeded", "alerts"),
        ("step_started", "retention"), ("step_succeeded", "retention"),
    ]
    check_every_metric(working)

    health = status_json(working, monkeypatch, capsys)
    assert health["data_lag_seconds"] == 0
    assert {step: facts["outcome"] for step, facts in health["steps"].items()} == {
        "partitions": "succeeded", "build": "succeeded", "live": "succeeded", "alerts": "succeeded",
        "retention": "succeeded",
    }
    # the live snapshot, taken from what the build had just cut
    snapshot_rows = working.value("select (select count(*) from analytics_internal.live_hourly_snapshot) "
                                  "+ (select count(*) from analytics_internal.live_daily_snapshot)")
    assert health["steps"]["live"]["rows_written"] == snapshot_rows
    # none in the UTC day's first hour, when the generated data end in the day before
    if working.value("select exists (select from analytics.user_activity "
                     "where created_at >= date_trunc('day', now(), 'UTC'))"):
        assert snapshot_rows > 0
    assert working.value("select count(*) from analytics_internal.live_snapshots where taken_at > now() - "
                         "interval '1 minute'") == 2
    build = health["steps"]["build"]
    assert build["rows_written"] > 0 and build["neutralized_events"] is not None
    assert build["failures_in_a_row"] == 0 and build["next_run_at"] > build["started_at"]
    models = {node["name"]: node for node in health["last_build_models"] if node["resource_type"] == "model"}
    assert {"daily_metrics", "hourly_metrics", "agent_performance", "user_cohorts", "mv_active_users"} <= set(models)
    assert {node["outcome"] for node in models.values()} == {"success"}
    assert models["daily_metrics"]["rows_written"] > 0

    # nothing is due again so soon: a second pass runs nothing
    before = runs(working)
    code, records = run_worker(working, "--once", "--config", str(config))
    assert code == 0 and runs(working) == before
    assert not [r for r in records if r["event"].startswith("step_")]


def test_a_worker_newer_than_the_deploy_names_the_step_and_the_fix(working, tmp_path):
    """A deploy of before the `live` step: the worker stops with what to do, not a traceback."""
    config = write_config(tmp_path, '[build]\nenabled = false\n[alerts]\nenabled = false\n[live]\nevery = "1s"\n'
                                    '[retention]\nenabled = false\n[partitions]\nenabled = false\n')
    check = "alter table analytics.pipeline_runs drop constraint pipeline_runs_step_check, add constraint " \
            "pipeline_runs_step_check check (step in ({}))"
    with working.connect() as conn:
        # the earlier check, for new rows only: this module's earlier tests ran `live`
        conn.execute(check.format("'partitions', 'build', 'alerts', 'retention'") + " not valid")
    try:
        done = subprocess.run([sys.executable, "-m", "agent_analytics.cli", "worker", "--once", "--config", str(config)],
                              env=worker_env(working), capture_output=True, text=True, timeout=300, check=False)
    finally:
        with working.connect() as conn:
            conn.execute(check.format("'partitions', 'build', 'live', 'alerts', 'retention'"))
    assert done.returncode == 1
    assert "does not know the worker's step 'live'" in done.stderr and "agent-analytics deploy" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_build_never_runs_twice_at_once(working, tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, '[build]\nevery = "1s"\n[alerts]\nenabled = false\n'
                                    '[retention]\nenabled = false\n[partitions]\nenabled = false\n[live]\nenabled = false\n')
    before = runs(working)
    with working.connect() as holder:
        holder.execute("select pg_advisory_lock(hashtext('agent-analytics step build'))")
        code, records = run_worker(working, "--once", "--config", str(config))
        assert code == 0
        assert [r["event"] for r in records] == ["step_busy"]
        assert "another agent-analytics build is running the build step" in records[0]["message"]
        assert runs(working) == before

        for key, value in working.target.env().items():
            monkeypatch.setenv(key, value)
        assert cli.main(["build"]) == 1
        assert "another agent-analytics build is running the build step" in capsys.readouterr().err


def test_a_build_run_by_hand_is_recorded_beside_the_workers(working, monkeypatch):
    for key, value in working.target.env().items():
        monkeypatch.setenv(key, value)
    assert cli.main(["build", "--target-path", str(working.target_path)]) == 0
    status = step_status(working, "build")
    assert status["outcome"] == "succeeded" and status["worker"].startswith("agent-analytics build ")


def test_a_failed_build_is_recorded_retried_later_and_told_to_the_operator(working, tmp_path):
    config = write_config(tmp_path, '[build]\nevery = "1s"\n[alerts]\nevery = "1s"\n[retention]\nenabled = false\n'
                                    '[partitions]\nenabled = false\n[live]\nenabled = false\n[retry]\nfirst = "1s"\n')
    with working.connect() as conn:
        conn.execute("set role service_role")
        rule = insert_rule(conn, name="pipeline failing", metric_type="pipeline_failures", threshold_value=0,
                           evaluation_window_minutes=60, pending_minutes=0,
                           notification_channels=["email"], notification_recipients=["oncall@example.com"])
    # the build role loses its read of the app's runs: every build fails until it is given back
    with working.connect() as conn:
        conn.execute("revoke select on analytics_app.agent_runs from analytics_builder")
    try:
        code, records = run_worker(working, "--once", "--config", str(config))
        assert code == 1
        failed = [r for r in records if r["event"] == "step_failed"]
        assert len(failed) == 1 and failed[0]["step"] == "build" and failed[0]["level"] == "error"
        status = step_status(working, "build")
        assert status["outcome"] == "failed" and status["failures_in_a_row"] == 1
        assert "agent_runs" in status["error"]
        assert status["next_run_at"] == pytest.approx(status["ended_at"] + timedelta(seconds=1),
                                                      abs=timedelta(seconds=1))
        # the alerts step of the same pass saw the failure: the operator's rule fired and its message is queued
        assert step_status(working, "alerts")["outcome"] == "succeeded"
        assert working.rows("select event, channel, target from analytics.alert_notifications "
                            "where alert_rule_id = %s", (rule,)) == [("firing", "email", "oncall@example.com")]

        time.sleep(1.1)
        code, _ = run_worker(working, "--once", "--config", str(config))
        assert code == 1
        assert step_status(working, "build")["failures_in_a_row"] == 2
    finally:
        with working.connect() as conn:
            conn.execute("grant select on analytics_app.agent_runs to analytics_builder")
    time.sleep(2.1)
    code, _ = run_worker(working, "--once", "--config", str(config))
    assert code == 0
    status = step_status(working, "build")
    assert status["outcome"] == "succeeded" and status["failures_in_a_row"] == 0
    check_every_metric(working)


def test_sigterm_finishes_the_running_build_then_exits_0(working, tmp_path):
    config = write_config(tmp_path, '[build]\nevery = "1s"\n[alerts]\nenabled = false\n'
                                    '[retention]\nenabled = false\n[partitions]\nenabled = false\n[live]\nenabled = false\n')
    process = subprocess.Popen([sys.executable, "-m", "agent_analytics.cli", "worker", "--config", str(config)],
                               env=worker_env(working), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        records = []
        for line in process.stdout:
            records.append(json.loads(line))
            if records[-1]["event"] == "step_started":
                process.send_signal(signal.SIGTERM)
                break
        out, err = process.communicate(timeout=300)
    finally:
        process.kill()
    records += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert process.returncode == 0, err
    events = [r["event"] for r in records]
    assert events[:2] == ["worker_started", "step_started"]
    assert events[-3:] == ["step_succeeded", "worker_stopping", "worker_stopped"]
    run_id = records[1]["run_id"]
    assert working.value("select outcome from analytics.pipeline_runs where id = %s", (run_id,)) == "succeeded"


def test_a_second_sigterm_abandons_the_build_and_the_next_one_loses_nothing(working, tmp_path):
    config = write_config(tmp_path, '[build]\nevery = "1s"\n[alerts]\nenabled = false\n[retry]\nfirst = "1s"\n'
                                    '[retention]\nenabled = false\n[partitions]\nenabled = false\n[live]\nenabled = false\n')
    with working.connect() as conn:
        generate.append(conn, timedelta(minutes=30))
    process = subprocess.Popen([sys.executable, "-m", "agent_analytics.cli", "worker", "--config", str(config)],
                               env=worker_env(working), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if json.loads(line)["event"] == "step_started":
                run_id = json.loads(line)["run_id"]
                break
        # into the build (dbt has started its nodes), then twice
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert process.returncode == 130, err
    assert events[-3:] == ["step_abandoned", "worker_stopping", "worker_stopped"]
    assert working.value("select outcome from analytics.pipeline_runs where id = %s", (run_id,)) == "abandoned"
    time.sleep(1.1)  # the backoff after an abandoned run
    code, records = run_worker(working, "--once", "--config", str(config))
    assert code == 0 and [r["step"] for r in records if r["event"] == "step_succeeded"] == ["build"]
    check_every_metric(working)


def test_the_lag_metric_measures_what_no_build_has_taken_in_and_is_platform_only(working):
    if working.value("select to_regclass('analytics_internal.int_agent_runs') is null"):
        working.build()
    with working.connect() as conn:
        conn.execute("set role service_role")
        with pytest.raises(psycopg.errors.CheckViolation, match="pipeline_lag_minutes watches the whole pipeline"):
            insert_rule(conn, metric_type="pipeline_lag_minutes", threshold_value=5,
                        workspace_id=conn.execute("select id from public.workspaces limit 1").fetchone()[0])
        rule = insert_rule(conn, name="builds stopped", metric_type="pipeline_lag_minutes", threshold_value=30,
                           evaluation_window_minutes=5, pending_minutes=0)
        # everything the last build took in: no lag
        now = conn.execute("select now()").fetchone()[0]
        conn.execute("select analytics.evaluate_alerts(%s)", (now,))
        assert conn.execute("select last_value from analytics.alert_rule_states where alert_rule_id = %s",
                            (rule,)).fetchone()[0] == 0
        user_id, workspace_id = conn.execute("select user_id, workspace_id from public.workspace_members "
                                             "limit 1").fetchone()
        arrived = conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
            "values (%s, %s, 'page_view', 'late') returning ingested_at", (user_id, workspace_id)).fetchone()[0]
        conn.execute("select analytics.evaluate_alerts(%s)", (arrived + timedelta(minutes=45),))
        state, value = conn.execute("select state, last_value from analytics.alert_rule_states "
                                    "where alert_rule_id = %s", (rule,)).fetchone()
        assert (state, value) == ("firing", 45)
        lag = conn.execute("select oldest_pending_event_at from analytics.pipeline_lag").fetchone()[0]
        assert lag == arrived
        # the watermark a removed model left behind holds nothing back
        taken_in = conn.execute("select taken_in_until from analytics.pipeline_lag").fetchone()[0]
        conn.execute("reset role")
        conn.execute("insert into analytics_internal.build_watermarks (model_name, read_start) "
                     "values ('a_model_removed_since', '2020-01-01')")
        assert conn.execute("select taken_in_until from analytics.pipeline_lag").fetchone()[0] == taken_in
        conn.execute("delete from analytics_internal.build_watermarks where model_name = 'a_model_removed_since'")
        conn.execute("set role service_role")
        conn.execute("delete from analytics.alert_rules where id = %s", (rule,))


def test_a_database_never_deployed_is_named_before_any_step(test_server, tmp_path):
    name = f"aa_test_{os.getpid()}_undeployed"
    made = cluster.create_supabase_database(test_server, name)
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(made.project.env())
        done = subprocess.run([sys.executable, "-m", "agent_analytics.cli", "worker", "--once"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        db.drop_database(test_server.admin, name)
    assert done.returncode == 1
    assert "run `agent-analytics deploy` as the database owner" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("relation", ["pipeline_runs", "pipeline_model_runs", "pipeline_status", "pipeline_lag"])
def test_only_service_role_reads_the_pipelines_health(working, relation, member_of):
    with working.api() as conn:
        with acting_as(conn, "service_role") as as_service:
            as_service.execute(f"select * from analytics.{relation} limit 1")
        # what moves the schedule is the owner's to write (the worker logs in as the owner)
        if relation in ("pipeline_runs", "pipeline_model_runs"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with acting_as(conn, "service_role") as as_service:
                    as_service.execute(f"delete from analytics.{relation}")
        for role, user_id in (("anon", None), ("authenticated", member_of(working))):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with acting_as(conn, role, user_id) as caller:
                    caller.execute(f"select * from analytics.{relation} limit 1")


@pytest.fixture
def member_of():
    def pick(project_db):
        return project_db.value("select user_id from public.workspace_members where role = 'owner' limit 1")
    return pick
