"""Local stand-ins for a database that is not a Supabase project with the app."""

from __future__ import annotations

from importlib import resources

import psycopg

from agent_analytics import db, dbt

STANDIN_MARKER = "agent-analytics stand-in of the main app"


def _sql(name: str) -> str:
    return resources.files("agent_analytics").joinpath("sql", name).read_text(encoding="utf-8")


def has_app_tables(conn: psycopg.Connection) -> bool:
    row = conn.execute("select to_regclass('public.users') is not null").fetchone()
    return bool(row and row[0])


def is_standin_app(conn: psycopg.Connection) -> bool:
    """True when public holds our stand-in, False for a real app (or none)."""
    row = conn.execute(
        "select obj_description(to_regclass('public.users'), 'pg_class') = %s", (STANDIN_MARKER,)
    ).fetchone()
    return bool(row and row[0])


def install_supabase_standin(conn: psycopg.Connection) -> None:
    """Roles anon, authenticated, service_role and auth.uid(), each only where absent."""
    conn.execute(_sql("supabase_standin.sql"))


def install_app_standin(conn: psycopg.Connection) -> None:
    """The contract's public tables; refuses to touch a database that has a real app."""
    if has_app_tables(conn) and not is_standin_app(conn):
        raise RefusedRealApp("public.users belongs to a real app; the stand-in is only for a database without one")
    conn.execute(_sql("app_standin.sql"))


def app_row_count(conn: psycopg.Connection) -> int:
    row = conn.execute("select count(*) from public.users").fetchone()
    return int(row[0]) if row else 0


class RefusedRealApp(RuntimeError):
    """An operation meant for the stand-in app was pointed at a real one."""


def prepare_standin_database(target: db.Connection, dbt_args: tuple[str, ...] = ()) -> None:
    """A database without an app made ready for generated data: the Supabase and app
    stand-ins, the build role and the tables the app writes into."""
    with db.connect(target) as conn:
        install_supabase_standin(conn)
        install_app_standin(conn)
    dbt.run_dbt(["run-operation", "create_build_role", "--target", "owner", *dbt_args], target, capture=True)
    dbt.run_dbt(["run-operation", "setup_analytics_tables", *dbt_args], target, capture=True)
