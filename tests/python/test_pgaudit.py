"""pgaudit (Supabase ships it): which settings log the analytics roles' writes, on a cluster of
its own that loads the library, with the project deployed and built as on Supabase.

PostgREST logs in as authenticator and switches role with set_config, and the build logs in as
postgres and works as the NOLOGIN build role: a role's own `pgaudit.log` applies at login only,
so on service_role, authenticated or analytics_builder it never applies. These tests run the
setting docs/security.md gives, as written, and show what it logs, and that the role settings
the docs gave before log nothing. Skipped where the chosen PostgreSQL has no pgaudit library,
except where AGENT_ANALYTICS_REQUIRE_PGAUDIT=1 (CI's PostgreSQL 15 suite, which installs it)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent_analytics import bootstrap, cluster, db, generate
from conftest import PROJECT, ProjectDatabase, ServerLog, acting_as, binaries_with_library

# The library loaded at start, and a log line prefix that names the login and the database, as
# the entries of Supabase's Log Explorer do.
PGAUDIT_SETTINGS = {"shared_preload_libraries": "pgaudit", "log_line_prefix": "%m [%p] %q%u@%d "}

# What docs/security.md said before: role settings, which apply when that role logs in.
ROLE_SETTINGS = (
    "alter role analytics_builder set pgaudit.log = 'ddl, role'",
    "alter role service_role set pgaudit.log = 'function, write'",
)

# Undoes either, so that each test starts from no audit setting at all.
RESET = (
    "alter database postgres reset pgaudit.role",
    "alter database postgres reset pgaudit.log",
    "alter role postgres reset pgaudit.log",
    "alter role service_role reset pgaudit.log",
    "alter role analytics_builder reset pgaudit.log",
)

SECRET_URL = "https://hooks.example.com/T000/B000/pgaudit-secret-token"


def pgaudit_binaries() -> cluster.Binaries:
    return binaries_with_library("pgaudit.so", "postgresql-15-pgaudit", "AGENT_ANALYTICS_REQUIRE_PGAUDIT")


def documented_setting() -> list[str]:
    """The SQL block after <!-- pgaudit-setup --> in docs/security.md, statement by statement."""
    text = (PROJECT / "docs" / "security.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- pgaudit-setup -->\n```sql\n(.*?)```", text, flags=re.S)
    assert found, "docs/security.md has no sql block after <!-- pgaudit-setup -->"
    code = "\n".join(line.split("--", 1)[0] for line in found.group(1).splitlines())
    return [statement.strip() for statement in code.split(";") if statement.strip()]


@pytest.fixture(scope="module")
def audited(data_end, tmp_path_factory) -> Iterator[tuple[ProjectDatabase, cluster.Cluster]]:
    """A cluster that loads pgaudit; its database `postgres` (the one a Supabase project has)
    with the demo app, deployed and built. The cluster is dropped afterwards."""
    binaries = pgaudit_binaries()  # skips (or fails) before anything is made
    folder = Path(tempfile.mkdtemp(prefix="aa-test-pgaudit-"))
    server = cluster.Cluster(binaries, folder / "data", folder / "run", throwaway=True, settings=PGAUDIT_SETTINGS)
    try:
        server.create()
        project_db = ProjectDatabase(server.server(), tmp_path_factory.mktemp("dbt-target-pgaudit"), data_end)
        bootstrap.prepare_demo_database(project_db.server, ("--target-path", str(project_db.target_path)))
        with db.connect(project_db.server.admin) as conn:
            generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES["tiny"], seed=5, end=data_end))
        project_db.build(data_tests=False)  # the tests' own builds run the data tests
        yield project_db, server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def applied(project_db: ProjectDatabase, statements: list[str] | tuple[str, ...]) -> Iterator[None]:
    """The statements run as supabase_admin: pgaudit's settings are superuser-only, and on Supabase
    postgres may set them through supautils, which this stand-in cluster does not have."""
    with project_db.connect_as("supabase_admin") as conn:
        for statement in statements:
            conn.execute(statement)
    try:
        yield
    finally:
        with project_db.connect_as("supabase_admin") as conn:
            for statement in RESET:
                conn.execute(statement)
            if conn.execute("select to_regrole('analytics_auditor')").fetchone()[0]:
                conn.execute("drop owned by analytics_auditor")
                conn.execute("drop role analytics_auditor")


def write_as_the_api(project_db: ProjectDatabase) -> None:
    """What the app does through PostgREST, each request a new login as authenticator (settings of
    a login apply when it starts): service_role changes an alert rule for a member and runs
    maintenance, a member records an event."""
    user_id, workspace_id = project_db.rows(
        "select user_id, workspace_id from public.workspace_members order by 1, 2 limit 1")[0]
    with project_db.api() as conn, acting_as(conn, "service_role", user_id):
        rule_id = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, "
            "notification_channels, notification_recipients) values (%s, 'Errors', 'error_rate', 'greater_than', 5, "
            "'[\"webhook\"]', %s) returning id", (workspace_id, json.dumps([SECRET_URL]))).fetchone()[0]
        conn.execute("update analytics.alert_rules set threshold_value = 7 where id = %s", (rule_id,))
        conn.execute("delete from analytics.alert_rules where id = %s", (rule_id,))
    with project_db.api() as conn, acting_as(conn, "service_role"):
        conn.execute("select analytics.evaluate_alerts(now())")
    with project_db.api() as conn, acting_as(conn, "authenticated", user_id):
        conn.execute("select analytics.track_event('page_view', %s)", (workspace_id,))


def log_entries(text: str) -> list[str]:
    """The log's entries, each with the lines that continue it (a statement over many lines)."""
    entries: list[str] = []
    for line in text.splitlines():
        if re.match(r"\d{4}-\d\d-\d\d ", line) or not entries:
            entries.append(line)
        else:
            entries[-1] += "\n" + line
    return entries


def audit_entries(text: str) -> list[str]:
    return [entry for entry in log_entries(text) if " LOG:  AUDIT: " in entry]


def test_the_documented_setting_logs_the_api_roles_and_the_builds_writes(audited):
    project_db, server = audited
    log = ServerLog.from_now(server.log_file)
    with applied(project_db, documented_setting()):
        write_as_the_api(project_db)
        project_db.build()
    entries = audit_entries(log.since_mark())

    def logged(login: str, fields: str) -> list[str]:
        return [entry for entry in entries if f" {login}@postgres LOG:  AUDIT: " in entry and fields in entry]

    # Object auditing (pgaudit.role): the API's writes on alert_rules, whatever role PostgREST
    # switched to; the login is authenticator.
    for command in ("INSERT", "UPDATE", "DELETE"):
        assert logged("authenticator", f",WRITE,{command},TABLE,analytics.alert_rules,"), command
    # Function calls through the API (pgaudit.log = 'function' of the database): maintenance by
    # service_role, events by members. What such a SECURITY DEFINER function writes is not
    # logged (pgaudit leaves out what runs as a role the login is not a member of).
    assert logged("authenticator", "FUNCTION,EXECUTE,FUNCTION,analytics.evaluate_alerts,")
    assert logged("authenticator", "FUNCTION,EXECUTE,FUNCTION,analytics.track_event,")
    # The build logs in as postgres and works as analytics_builder: pgaudit.log of the login.
    build_writes = logged("postgres", ",WRITE,")
    assert any("daily_metrics" in entry for entry in build_writes), build_writes[:3]
    assert logged("postgres", ",DDL,")
    # Parameters stay out of the log (pgaudit.log_parameter is off): no notification target.
    assert all(SECRET_URL not in entry for entry in entries)


def test_a_role_setting_never_applies_to_roles_that_are_switched_to(audited):
    """What docs/security.md said before: nobody logs in as service_role or analytics_builder,
    so their own pgaudit.log never takes effect and nothing is logged."""
    project_db, server = audited
    log = ServerLog.from_now(server.log_file)
    with applied(project_db, ROLE_SETTINGS):
        write_as_the_api(project_db)
        project_db.build()
    assert audit_entries(log.since_mark()) == []
