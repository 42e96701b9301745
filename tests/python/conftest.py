"""Fixtures: every test session works in databases of its own on a real PostgreSQL.

The server is the one the PG* variables name, else the project's embedded one. Read-only
tests share one built database; tests that change data get a database each.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from agent_analytics import bootstrap, db, dbt, generate

PROJECT = dbt.project_dir()


@dataclass
class ProjectDatabase:
    """A database with the stand-ins, generated data and (after build()) the analytics schema."""

    target: db.Connection
    target_path: Path
    data_end: datetime

    def dbt(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = dbt.run_dbt([*args, "--target-path", str(self.target_path)], self.target, extra_env=env, capture=True)
        return result.stdout

    def build(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self.dbt("build", *args, env=env)

    def connect(self) -> psycopg.Connection:
        return db.connect(self.target)

    def rows(self, query: str, params: tuple | dict | None = None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str, params: tuple | dict | None = None):
        return self.rows(query, params)[0][0]


@pytest.fixture(scope="session")
def admin_target() -> db.Connection:
    return db.resolve(PROJECT)


@pytest.fixture(scope="session")
def data_end() -> datetime:
    """The last moment of generated data: the current hour, so 'last 30 days' windows hold data."""
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)


@pytest.fixture(scope="session")
def make_database(admin_target: db.Connection, data_end: datetime, tmp_path_factory) -> Iterator:
    created: list[str] = []
    numbers = itertools.count(1)

    def make(seed: int = 7, scale: str = "tiny") -> ProjectDatabase:
        name = f"aa_test_{os.getpid()}_{next(numbers)}"
        target = db.create_database(admin_target, name)
        created.append(name)
        project_db = ProjectDatabase(target, tmp_path_factory.mktemp(f"dbt-target-{name}"), data_end)
        bootstrap.prepare_standin_database(target, ("--target-path", str(project_db.target_path)))
        with db.connect(target) as conn:
            generate.generate(conn, generate.GenerateOptions(scale=generate.SCALES[scale], seed=seed, end=data_end))
        return project_db

    yield make
    for name in created:
        db.drop_database(admin_target, name)


@pytest.fixture(scope="session")
def built(make_database) -> ProjectDatabase:
    """One database built once, for tests that only read."""
    project_db = make_database(seed=11)
    project_db.build()
    return project_db


class _Rollback(Exception):
    pass


@contextmanager
def acting_as(conn: psycopg.Connection, role: str, user_id: object | None = None) -> Iterator[psycopg.Connection]:
    """What PostgREST does for a request: a transaction as the API role with the JWT claims set."""
    try:
        with conn.transaction():
            conn.execute(psycopg.sql.SQL("set local role {}").format(psycopg.sql.Identifier(role)))
            if user_id is not None:
                claims = json.dumps({"sub": str(user_id), "role": role})
                conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            yield conn
            raise _Rollback
    except _Rollback:
        pass


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)
