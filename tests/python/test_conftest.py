"""The test session's own rules (conftest.py): a temporary folder per session, kept only when the
session fails, no test that builds on one UTC day and checks on the next, a test database's
first parse from the template's; and every test that CI's split names (.ci/run) is one."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent_analytics import dbt
from conftest import seconds_to_wait, wait_until

HERE = Path(__file__).parent


def test_a_test_waits_for_the_next_utc_day_only_when_less_than_its_margin_is_left():
    margin = timedelta(minutes=10)
    assert seconds_to_wait(datetime(2026, 12, 4, 23, 49, 59, tzinfo=UTC), margin) == 0
    assert seconds_to_wait(datetime(2026, 12, 4, 23, 52, tzinfo=UTC), margin) == 8 * 60 + 1
    assert seconds_to_wait(datetime(2026, 12, 5, 0, 0, tzinfo=UTC), margin) == 0
    # a clock in another time zone waits for UTC's midnight, not its own (08:55 in Tokyo is 23:55 UTC)
    assert seconds_to_wait(datetime(2026, 12, 5, 8, 55, tzinfo=timezone(timedelta(hours=9))), margin) == 5 * 60 + 1


def run_session(folder: Path, body: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A pytest session of one test that writes a file into its tmp_path, with this suite's
    conftest as a plugin; and the session's own folder (tmp_path is <own>/pytest/test_one0)."""
    (folder / "test_one.py").write_text(
        "def test_one(tmp_path):\n"
        "    (tmp_path / 'made').write_text('x')\n"
        f"    open({str(folder / 'where')!r}, 'w').write(str(tmp_path))\n"
        f"    {body}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", "--rootdir", str(folder),
         str(folder / "test_one.py")],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )
    return result, Path((folder / "where").read_text()).parent.parent


def test_a_wait_returns_what_came_true_and_fails_with_its_message_when_nothing_does():
    polls = iter([None, [], ["blocked"]])
    assert wait_until(lambda: next(polls), "never", seconds=5, every=0) == ["blocked"]
    seen = []
    with pytest.raises(pytest.fail.Exception, match=r"^still nothing after \d+ polls$"):
        wait_until(lambda: seen.append(1), lambda: f"still nothing after {len(seen)} polls", seconds=0.02, every=0.01)
    assert len(seen) >= 2


def test_each_session_has_a_temporary_folder_of_its_own_kept_only_when_it_fails(tmp_path):
    passed, own = run_session(tmp_path, "assert True")
    assert passed.returncode == 0, passed.stdout
    assert own.name.startswith("aa-pytest-") and own != tmp_path.parents[1], own
    assert not own.exists(), "a passing session left its folder"

    failed, kept = run_session(tmp_path, "assert False")
    try:
        assert failed.returncode == 1, failed.stdout
        assert (kept / "pytest" / "test_one0" / "made").exists()
        assert f"the tests' temporary files are kept in {kept}" in failed.stdout
        assert kept != own
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def parse_of(target_path: Path) -> dict:
    """What a dbt parse wrote (manifest and semantic manifest), without what changes at every run."""
    def steady(value: object) -> object:
        if isinstance(value, dict):
            return {key: steady(item) for key, item in value.items()
                    if key not in ("created_at", "generated_at", "invocation_id", "invocation_started_at",
                                   "run_started_at")}
        if isinstance(value, list):
            return [steady(item) for item in value]
        return value

    return {name: steady(json.loads((target_path / name).read_text(encoding="utf-8")))
            for name in ("manifest.json", "semantic_manifest.json")}


def test_a_test_databases_first_parse_starts_from_the_templates_and_equals_a_full_one(make_database, scratch_dir):
    """dbt_forkserver.seeded_parse: the first dbt run on a new test database starts from the
    session template's parse, its database names moved, and dbt takes it as a partial parse of
    an unchanged project; what it writes equals a full parse of that database. So does the
    owner's (another role), from the template's parse as the owner; a run connecting otherwise
    (another login) parses in full."""
    project_db = make_database(seed=5)
    seeded = project_db.dbt("parse", artifacts=True)
    dbt.run_dbt(["parse", "--no-partial-parse", "--target-path", str(scratch_dir / "full")], project_db.target,
                capture=True)
    assert "Starting full parse" not in seeded and "Unable to do partial parsing" not in seeded
    assert project_db.server.project.dbname in json.dumps(parse_of(project_db.target_path))
    assert parse_of(project_db.target_path) == parse_of(scratch_dir / "full")
    as_owner = dbt.run_dbt(["parse", "--target", "owner", "--target-path", str(scratch_dir / "owner")],
                           project_db.target, capture=True).stdout
    assert "Starting full parse" not in as_owner
    dbt.run_dbt(["parse", "--target", "owner", "--no-partial-parse", "--target-path", str(scratch_dir / "owner-full")],
                project_db.target, capture=True)
    assert parse_of(scratch_dir / "owner") == parse_of(scratch_dir / "owner-full")
    another_login = dataclasses.replace(project_db.target, user="supabase_admin")
    as_another = dbt.run_dbt(["parse", "--target-path", str(scratch_dir / "another")], another_login,
                             capture=True).stdout
    assert "saved manifest not found. Starting full parse" in as_another


def test_every_test_that_ci_names_is_a_test_of_the_suite():
    """.ci/run names the tests it runs on one server major only (--deselect on the other) or on
    the embedded server: a name that no longer matches a test would silently run it on both
    majors, or stop the embedded job."""
    named = re.findall(r"(tests/python/test_\w+\.py)(?:::(\w+))?", (HERE.parents[1] / ".ci" / "run").read_text())
    assert len(named) > 20
    missing = [f"{path}::{name}" if name else path for path, name in named
               if not (HERE.parents[1] / path).is_file()
               or (name and not re.search(rf"^def {name}\(", (HERE.parents[1] / path).read_text(), re.MULTILINE))]
    assert not missing, f".ci/run names tests that are not in the suite: {missing}"
