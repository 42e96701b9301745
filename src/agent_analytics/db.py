"""Where the database is (the libpq variables when set, else an embedded server in the
project), and the few statements every part runs the same way: a timed statement under a time
limit, dropping a database, state kept in an object's comment."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from agent_analytics.errors import AgentAnalyticsError

# Any of these set means the user chose a database; then nothing embedded starts.
LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGSERVICE")
EMBEDDED_DIR_NAME = ".pgdata"
# Where the embedded server keeps its data instead of the project's .pgdata (a second
# server beside it, or the tests' servers of their own).
EMBEDDED_DIR_VARIABLE = "AGENT_ANALYTICS_PGDATA"
EMBEDDED_MARKER = "agent-analytics-supabase"


class DatabaseUnavailable(AgentAnalyticsError):
    """The configured database cannot be reached; the message says which and why."""


class NotEmbedded(AgentAnalyticsError):
    """What only the embedded server may undergo was asked of a database the PG* variables name."""


@dataclass(frozen=True)
class Connection:
    """How to reach one PostgreSQL database, in libpq terms."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None
    sslmode: str | None = None
    embedded: bool = False

    def conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(**self._params())

    def env(self) -> dict[str, str]:
        """The libpq variables that point dbt, psql and this CLI at this database."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.dbname,
        }
        if self.password:
            env["PGPASSWORD"] = self.password
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        return env

    def with_database(self, dbname: str) -> Connection:
        return replace(self, dbname=dbname)

    def describe(self) -> str:
        where = f"embedded server (socket {self.host})" if self.embedded else f"{self.host}:{self.port}"
        return f"database {self.dbname!r} as {self.user!r} on {where}"

    def _params(self) -> dict[str, str]:
        params = {"host": self.host, "port": str(self.port), "user": self.user, "dbname": self.dbname}
        if self.password:
            params["password"] = self.password
        if self.sslmode:
            params["sslmode"] = self.sslmode
        return params


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server as the project meets it: `project` is how the project connects (on
    Supabase, postgres, which is no superuser); `admin` makes databases and loads demo data as
    the platform would (supabase_admin on our own clusters; the same user on a server the PG*
    variables name)."""

    project: Connection
    admin: Connection

    def database(self, dbname: str) -> Server:
        return Server(self.project.with_database(dbname), self.admin.with_database(dbname))


def database_is_configured(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in LIBPQ_VARIABLES)


def names_embedded(project_dir: Path, environ: Mapping[str, str]) -> bool:
    """True when the PG* variables are exactly those `agent-analytics env` prints for the
    embedded server: a shell that ran `eval "$(agent-analytics env)"` means the embedded server,
    and must be able to start it again after a stop or a reboot."""
    from agent_analytics import cluster

    chosen = {name: environ[name] for name in LIBPQ_VARIABLES if environ.get(name)}
    socket_dir = embedded_socket_dir(embedded_data_dir(project_dir, environ))
    # Known without the embedded server's binaries, which a user of their own database may not have.
    return chosen == cluster.socket_connection(socket_dir).env()


def from_environment(environ: Mapping[str, str]) -> Connection:
    """The database the libpq variables name, with libpq's own defaults for the rest."""
    host = environ.get("PGHOST") or "127.0.0.1"
    port_text = environ.get("PGPORT") or "5432"
    if not port_text.isdigit():
        raise DatabaseUnavailable(f"PGPORT must be a port number, not {port_text!r}")
    user = environ.get("PGUSER") or "postgres"
    return Connection(
        host=host,
        port=int(port_text),
        user=user,
        dbname=environ.get("PGDATABASE") or user,
        password=environ.get("PGPASSWORD") or None,
        sslmode=environ.get("PGSSLMODE") or default_sslmode(host),
    )


def default_sslmode(host: str) -> str:
    """Encrypted by default to anything that is not this machine."""
    local = host.startswith("/") or host in {"localhost", "127.0.0.1", "::1"}
    return "prefer" if local else "require"


def embedded_data_dir(project_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The embedded server's data folder: .pgdata in the project, unless AGENT_ANALYTICS_PGDATA names another."""
    chosen = (os.environ if environ is None else environ).get(EMBEDDED_DIR_VARIABLE)
    return Path(chosen).absolute() if chosen else project_dir / EMBEDDED_DIR_NAME


def embedded_cluster(project_dir: Path, environ: Mapping[str, str] | None = None):
    """The project's embedded cluster in .pgdata: built like a Supabase database (cluster.py)."""
    from agent_analytics import cluster

    data_dir = embedded_data_dir(project_dir, environ)
    return cluster.Cluster(cluster.embedded_binaries(), data_dir, embedded_socket_dir(data_dir))


def embedded_socket_dir(data_dir: Path) -> Path:
    """A Unix socket path may be 107 bytes long at most: a deep checkout keeps it in /tmp."""
    return data_dir if len(str(data_dir)) < 80 else Path(tempfile.gettempdir()) / (
        "agent-analytics-" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:12])


def start_embedded(project_dir: Path, environ: Mapping[str, str] | None = None) -> Connection:
    """Start (or create, then start) the project's embedded PostgreSQL; it keeps running for dbt
    and psql. The project connects as `postgres`, which is not a superuser, as on Supabase."""
    from agent_analytics import data_folder

    server = embedded_cluster(project_dir, environ)
    if server.is_running():
        return server.connection()
    if not server.exists():
        data_folder.check(server.data_dir)  # only a missing or empty folder is made afresh
        server.create()
        # Written last: a folder without it was not finished (data_folder.check).
        (server.data_dir / EMBEDDED_MARKER).write_text("built like a Supabase database by agent-analytics\n")
        return server.connection()
    data_folder.check(server.data_dir, server.binaries.major_version())
    mark = data_folder.log_size(server.log_file)
    try:
        server.start()
    except DatabaseUnavailable as error:
        raise data_folder.does_not_start(server.data_dir, server.log_file, mark, str(error)) from error
    return server.connection()


def embedded_admin(project_dir: Path, environ: Mapping[str, str] | None = None) -> Connection:
    """The embedded cluster's superuser (the platform's supabase_admin): it loads the demo data."""
    return embedded_cluster(project_dir, environ).admin()


def stop_embedded(project_dir: Path) -> bool:
    """Stop the embedded server if it runs; its data stays in .pgdata."""
    return embedded_cluster(project_dir).stop()


def reset_embedded(project_dir: Path, environ: Mapping[str, str] | None = None) -> None:
    """Stop the embedded server and delete its data folder (and its socket folder, when that
    is apart), so that the next start makes a new one."""
    server = embedded_cluster(project_dir, environ)
    server.stop()
    if server.data_dir.exists():
        shutil.rmtree(server.data_dir)
    if server.socket_dir != server.data_dir:
        shutil.rmtree(server.socket_dir, ignore_errors=True)


def embedded_psql() -> Path:
    """The psql that ships with the embedded server, for users without one."""
    from agent_analytics import cluster

    return Path(cluster.embedded_binaries().tool("psql"))


def resolve(project_dir: Path, environ: Mapping[str, str] | None = None) -> Connection:
    return resolve_server(project_dir, environ).project


def resolve_server(project_dir: Path, environ: Mapping[str, str] | None = None) -> Server:
    """The database the PG* variables name, else the embedded one (started if needed)."""
    environ = os.environ if environ is None else environ
    if database_is_configured(environ) and not names_embedded(project_dir, environ):
        target = from_environment(environ)
        return Server(target, target)
    project = start_embedded(project_dir, environ)
    return Server(project, embedded_admin(project_dir, environ))


def connect(target: Connection, *, autocommit: bool = True) -> psycopg.Connection:
    try:
        return psycopg.connect(target.conninfo(), autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        remedy = ("`agent-analytics stop`, then run the command again" if target.embedded
                  else "check the PG* variables, or unset them all to use the embedded server")
        raise DatabaseUnavailable(f"cannot connect to {target.describe()}: {reason.rstrip('.')} ({remedy})") from error


def server_clock(conn: psycopg.Connection) -> datetime:
    """The server's clock, in UTC: the one the SQL reads (a measurement may move it)."""
    row = conn.execute("select now()").fetchone()
    assert row is not None  # select now() always answers one row
    return row[0].astimezone(UTC)


def server_now(target: Connection) -> datetime:
    """server_clock() on a connection of its own, for a caller that holds none."""
    with connect(target) as conn:
        return server_clock(conn)


def drop_database(admin: Connection, dbname: str) -> None:
    with connect(admin) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def timed(
    conn: psycopg.Connection, statement: sql.Composable | str, params: Any = None, *, role: str | None = None,
    limit: float | None = None,
) -> float | None:
    """Seconds to run one statement as `role` (None: as the login) and commit it; None when it
    ran past `limit` seconds and was cancelled (then it is rolled back). The role and the limit
    are set in the statement's own transaction, and are not timed."""
    try:
        with conn.transaction():
            if role:
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            if limit:
                conn.execute("select set_config('statement_timeout', %s, true)", (str(int(limit * 1000)),))
            started = time.perf_counter()
            conn.execute(statement, params)
    except psycopg.errors.QueryCanceled:
        return None
    return time.perf_counter() - started


# State a tool keeps beside the data it made, in that object's comment: it goes with a dump,
# a copy (create database ... template) and a drop, where a file beside it would not.
_DESCRIPTION = {
    "database": "select shobj_description(oid, 'pg_database') from pg_database where datname = %s",
    "table": "select obj_description(to_regclass(%s), 'pg_class')",
}


def write_note(
    conn: psycopg.Connection, kind: Literal["database", "table"], name: str, prefix: str, state: Mapping[str, Any]
) -> None:
    """Keep `state` as JSON in the comment of a database or a table (schema.table), after `prefix`."""
    target = sql.Identifier(name) if kind == "database" else sql.Identifier(*name.split("."))
    conn.execute(sql.SQL("comment on {} {} is {}").format(
        sql.SQL(kind), target, sql.Literal(prefix + json.dumps(state))
    ))


def read_note(conn: psycopg.Connection, kind: Literal["database", "table"], name: str, prefix: str) -> dict | None:
    """The state write_note kept there, or None when the object or its note is missing."""
    row = conn.execute(_DESCRIPTION[kind], (name,)).fetchone()
    if not row or not row[0] or not row[0].startswith(prefix):
        return None
    return json.loads(row[0][len(prefix):])
