"""The project's SQL and Python pass its lint (./scripts/lint: the rules in .sqlfluff and
pyproject.toml's [tool.ruff]): files only, no database, so CI runs it once, beside the first-hour
tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import PROJECT


def venv_tool(name: str) -> str:
    """A tool installed beside the Python this test runs in (the project's venv)."""
    return str(Path(sys.executable).with_name(name))


def lint(*command: str) -> subprocess.CompletedProcess:
    """One of ./scripts/lint's commands, run in the project."""
    return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)


def test_sqlfluff_finds_nothing_in_the_models():
    result = lint(venv_tool("sqlfluff"), "lint", "models")
    assert result.returncode == 0, result.stdout[-4000:]


def test_sqlfluff_finds_nothing_new_in_the_sql_the_macros_render():
    """tests/python/macro_lint.py (./scripts/lint): every macro that renders SQL is rendered
    through dbt and linted with the project's rules; KNOWN_FINDINGS is a ratchet."""
    result = lint(sys.executable, str(PROJECT / "tests" / "python" / "macro_lint.py"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_ruff_finds_nothing_in_the_python():
    result = lint(venv_tool("ruff"), "check", "src", "tests")
    assert result.returncode == 0, result.stdout[-4000:]
