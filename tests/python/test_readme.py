"""The README's "On a Supabase project" block, run as written on a database built like a Supabase
project's, which the project did not make: the app's tables (RLS on) and data are there first;
the block deploys as postgres and builds; every rollup then equals the independent computation,
and again after the next hourly build."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import timedelta

from psycopg import sql

from agent_analytics import bootstrap, cluster, db, generate
from conftest import PROJECT, ProjectDatabase
from test_metrics import check_every_metric


def readme_block(marker: str) -> str:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)```", text, flags=re.S)
    assert found, f"README.md has no bash block after <!-- {marker} -->"
    return found.group(1)


def run_block(block: str, target: db.Connection, target_path) -> None:
    """The block's commands in the checkout, with this database's settings in place of the
    placeholders of its export lines. The install line is the one thing not run: the tests run
    in the environment it makes."""
    commands = [line for line in block.splitlines()
                if line.strip() and not line.startswith(("export ", "python3 -m venv"))]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(target.env())
    env["DBT_TARGET_PATH"] = str(target_path)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(commands)], cwd=PROJECT, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def copy_rows(source: db.Connection, target: db.Connection, table: str, columns: str) -> None:
    with db.connect(source) as read, db.connect(target) as write:
        with read.cursor().copy(f"copy (select {columns} from {table}) to stdout") as out, \
                write.cursor().copy(f"copy {table} ({columns}) from stdin") as into:
            for chunk in out:
                into.write(chunk)


APP_TABLES = (
    ("auth.users", "id, aud, role, email, created_at, updated_at"),
    ("public.users", "id, email, full_name, created_at, last_sign_in_at"),
    ("public.workspaces", "id, name, plan, created_at"),
    ("public.workspace_members", "workspace_id, user_id, role, joined_at"),
    ("public.agents", "id, workspace_id, name, created_by, created_at"),
    ("public.agent_runs", "*"),
)


def test_the_readme_supabase_block_installs_and_the_hourly_build_keeps_every_metric_right(
    make_database, test_server, tmp_path
):
    """The app's tables and rows are there before the block runs; its events reach
    analytics.user_activity only once the deploy has made it, before the next hourly build."""
    source = make_database(seed=41)  # the app's data, and the events it will write
    name = f"aa_test_{os.getpid()}_readme"
    server = cluster.create_supabase_database(test_server, name)
    try:
        with db.connect(server.project) as conn:
            bootstrap.install_demo_app(conn)  # the app's own migration, run as postgres
        run_columns = ", ".join(row[0] for row in source.rows(
            "select attname from pg_attribute where attrelid = 'public.agent_runs'::regclass "
            "and attnum > 0 and not attisdropped order by attnum"))
        for table, columns in APP_TABLES:
            copy_rows(source.server.admin, server.admin, table, run_columns if columns == "*" else columns)
        project_db = ProjectDatabase(server, tmp_path, source.data_end)

        install = readme_block("supabase-install")
        assert {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"} <= set(re.findall(r"\b(PG[A-Z]+)=", install))
        run_block(install, server.project, tmp_path)
        assert project_db.value("select count(*) from analytics.daily_metrics") > 0
        check_every_metric(project_db)

        event_columns = ", ".join(row[0] for row in source.rows(
            "select attname from pg_attribute where attrelid = 'analytics.user_activity'::regclass "
            "and attnum > 0 and not attisdropped and attname <> 'ingested_at' order by attnum"))
        copy_rows(source.server.admin, server.admin, "analytics.user_activity", event_columns)
        settings = source.value("select obj_description('public.agent_runs'::regclass, 'pg_class')")
        with db.connect(server.project) as conn:
            # the generator remembers its world on the app's table; the append continues it
            conn.execute(sql.SQL("comment on table public.agent_runs is {}").format(sql.Literal(settings)))
            generate.append(conn, timedelta(hours=1))  # a quiet hour of the day may bring no event
            # and what the app writes as service_role in the meantime, late events included
            conn.execute("set role service_role")
            written = conn.execute(
                "insert into analytics.user_activity (user_id, workspace_id, event_type, created_at) "
                "select user_id, workspace_id, 'feature_use', now() - make_interval(hours => n) "
                "from public.workspace_members, generate_series(0, 30, 6) as n returning id"
            ).fetchall()
            conn.execute("reset role")
        run_block(readme_block("supabase-hourly"), server.project, tmp_path)
        assert written
        check_every_metric(project_db)
    finally:
        db.drop_database(test_server.admin, name)
