"""Getting a database ready to build: the demo app where there is no app, and the owner's deploy."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import psycopg

from agent_analytics import db, dbt
from agent_analytics.errors import AgentAnalyticsError

STANDIN_MARKER = "agent-analytics stand-in of the main app"


class RefusedRealApp(AgentAnalyticsError):
    """An operation meant for the demo app was pointed at a real one."""


class NotSupabase(AgentAnalyticsError):
    """The database lacks what Supabase provides and we may not create it."""


def _sql(*parts: str) -> str:
    return resources.files("agent_analytics").joinpath("sql", *parts).read_text(encoding="utf-8")


def has_app_tables(conn: psycopg.Connection) -> bool:
    row = conn.execute("select to_regclass('public.users') is not null").fetchone()
    return bool(row and row[0])


def is_standin_app(conn: psycopg.Connection) -> bool:
    """True when public holds our demo app, False for a real app (or none)."""
    row = conn.execute(
        "select obj_description(to_regclass('public.users'), 'pg_class') = %s", (STANDIN_MARKER,)
    ).fetchone()
    return bool(row and row[0])


def app_row_count(conn: psycopg.Connection) -> int:
    row = conn.execute("select count(*) from public.users").fetchone()
    return int(row[0]) if row else 0


def is_supabase(conn: psycopg.Connection) -> bool:
    """The roles and auth.uid() every Supabase database has."""
    row = conn.execute(
        "select to_regrole('anon') is not null and to_regrole('authenticated') is not null "
        "and to_regrole('service_role') is not null and to_regprocedure('auth.uid()') is not null"
    ).fetchone()
    return bool(row and row[0])


def install_supabase_layer(conn: psycopg.Connection) -> None:
    """Supabase's roles, `auth` schema and grants (sql/supabase/), for a plain PostgreSQL the user
    controls as a superuser; each object only where absent. Supabase projects and the
    embedded server already have them."""
    row = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()
    if not (row and row[0]):
        raise NotSupabase(
            "this database has no Supabase roles or auth schema, and the connecting user is not a "
            "superuser who could make them: point the PG* variables at a Supabase project, or unset "
            "them to use the embedded server"
        )
    conn.execute(_sql("supabase", "roles.sql"))
    conn.execute(_sql("supabase", "database.sql"))


def install_demo_app(conn: psycopg.Connection) -> None:
    """The app's five tables as a Supabase app has them (RLS on); run as the app's owner.
    Refuses to touch a database that has a real app."""
    if has_app_tables(conn) and not is_standin_app(conn):
        raise RefusedRealApp("public.users belongs to a real app; the demo app is only for a database without one")
    conn.execute(_sql("demo_app.sql"))


def deploy(target: db.Connection, *, force: bool = False, dbt_args: tuple[str, ...] = ()) -> str:
    """The owner's deploy (macros/deploy/): as the connecting user, who must own the database
    objects it makes (on Supabase: postgres). Returns dbt's output."""
    args = ["run-operation", "deploy", "--target", "owner", *dbt_args]
    if force:
        args += ["--args", "{force: true}"]
    return dbt.run_dbt(args, target, capture=True).stdout


def deploy_script(target: db.Connection, dbt_args: tuple[str, ...] = ()) -> str:
    """The deploy as one SQL script (what a Supabase CLI migration holds)."""
    result = dbt.run_dbt(
        ["--quiet", "run-operation", "print_deploy_script", "--target", "owner", *dbt_args], target, capture=True
    )
    return result.stdout.strip() + "\n"


def write_migration(target: db.Connection, folder: Path, now: datetime | None = None,
                    dbt_args: tuple[str, ...] = ()) -> Path:
    """supabase/migrations/<timestamp>_analytics.sql, for `supabase db push`."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    path = folder / f"{stamp}_analytics.sql"
    path.write_text(deploy_script(target, dbt_args), encoding="utf-8")
    return path


def prepare_demo_database(server: db.Server, dbt_args: tuple[str, ...] = ()) -> bool:
    """A database made ready for the demo data and a build: Supabase's layer where a plain server
    lacks it, the demo app where there is no app, then the owner's deploy. True when the app
    is a real one (then nothing of it is touched)."""
    with db.connect(server.admin) as conn:
        if not is_supabase(conn):
            install_supabase_layer(conn)
    with db.connect(server.project) as conn:
        real_app = has_app_tables(conn) and not is_standin_app(conn)
        if not real_app:
            install_demo_app(conn)
    deploy(server.project, dbt_args=dbt_args)
    return real_app
