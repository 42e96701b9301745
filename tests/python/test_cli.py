"""The CLI answers user mistakes with one clear line and a non-zero exit, and loses nothing."""

from __future__ import annotations

import os

import pytest

from agent_analytics import bench, bootstrap, cli, cluster, db, dbt, demo_data, erasure, generate, lock
from agent_analytics.alerts import outbox, settings, targets
from agent_analytics.errors import AgentAnalyticsError
from agent_analytics.worker import config as worker_config
from agent_analytics.worker import health, locks, steps


@pytest.fixture
def empty_database(test_server):
    """A Supabase database with no app in it."""
    name = f"aa_test_{os.getpid()}_empty"
    made = cluster.create_supabase_database(test_server, name)
    yield made.project
    db.drop_database(test_server.admin, name)


def test_unknown_scale_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "--scale", "huge"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["generate", "--days", "0"], "must be a positive whole number"),
    (["bench", "--days", "-30"], "must be a positive whole number"),
    (["bench", "--load-clients", "8,many"], "give client counts as whole numbers, comma-separated"),
    (["bench", "--load-clients", "0"], "give client counts as whole numbers, comma-separated"),
    (["generate", "--end", "yesterday"], "--end must be an ISO timestamp"),
    (["status", "--verbose"], "unrecognized arguments: --verbose"),
])
def test_bad_arguments_get_one_line_errors(capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_database_is_named_without_a_traceback(monkeypatch, capsys):
    for name in db.LIBPQ_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "1")
    monkeypatch.setenv("PGDATABASE", "nowhere")
    assert cli.main(["status"]) == 1
    output = capsys.readouterr()
    assert "cannot connect to database 'nowhere'" in output.err
    assert "Traceback" not in output.out + output.err


@pytest.mark.parametrize("error", [
    db.DatabaseUnavailable, db.NotEmbedded, dbt.DbtFailed, dbt.ProjectNotFound, bootstrap.RefusedRealApp,
    bootstrap.NotSupabase, generate.GeneratorError, bench.BenchError, erasure.ErasureError, demo_data.DataExists,
    lock.Busy, outbox.AlertsUnavailable, settings.AlertSettingsError, targets.TargetRefused,
    worker_config.ConfigError, health.HealthUnavailable, locks.StepBusy, steps.StepFailed,
])
def test_every_error_meant_for_the_user_is_one_line_from_main(monkeypatch, capsys, error):
    assert issubclass(error, AgentAnalyticsError)

    def fails(args, console):
        raise error("what went wrong, and what to do")

    monkeypatch.setitem(cli.COMMANDS, "status", fails)
    assert cli.main(["status"]) == 1
    output = capsys.readouterr()
    assert "error: what went wrong, and what to do" in output.err
    assert "Traceback" not in output.out + output.err


def test_generate_refuses_a_database_with_a_real_app(empty_database):
    with db.connect(empty_database) as conn:
        conn.execute("create table public.users (id uuid primary key, email text)")
        conn.execute("insert into public.users values (gen_random_uuid(), 'real@customer.com')")
        with pytest.raises(bootstrap.RefusedRealApp, match="real app"):
            generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES["tiny"]))
        with pytest.raises(bootstrap.RefusedRealApp):
            bootstrap.install_demo_app(conn)
        assert conn.execute("select email from public.users").fetchall() == [("real@customer.com",)]


def test_deploy_on_a_database_without_the_app_names_what_is_missing(empty_database, tmp_path):
    with pytest.raises(dbt.DbtFailed) as failure:
        bootstrap.deploy(empty_database, dbt_args=("--target-path", str(tmp_path)))
    assert "the app has no table public.users" in str(failure.value)
    assert "the app has no table public.agent_runs" in str(failure.value)


def test_deploy_names_each_column_of_the_app_that_analytics_reads_and_is_missing(empty_database, tmp_path):
    with db.connect(empty_database) as conn:
        bootstrap.install_demo_app(conn)
        conn.execute("alter table public.agent_runs drop column model, drop column tokens_used")
    with pytest.raises(dbt.DbtFailed) as failure:
        bootstrap.deploy(empty_database, dbt_args=("--target-path", str(tmp_path)))
    assert "public.agent_runs has no column model" in str(failure.value)
    assert "public.agent_runs has no column tokens_used" in str(failure.value)


def test_remote_hosts_default_to_encrypted_connections():
    assert db.from_environment({"PGHOST": "db.example.supabase.co"}).sslmode == "require"
    assert db.from_environment({"PGHOST": "127.0.0.1"}).sslmode == "prefer"
    assert db.from_environment({"PGHOST": "db.example.com", "PGSSLMODE": "verify-full"}).sslmode == "verify-full"
