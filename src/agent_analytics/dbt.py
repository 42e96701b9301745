"""Running dbt against the resolved database, with the project's profile."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent_analytics.db import Connection
from agent_analytics.errors import AgentAnalyticsError

# What the schedule runs (README, "Scheduling"); the benchmark times the same command. Unit
# tests check the SQL, not the data: they belong to development and CI, not to every hour.
SCHEDULED_BUILD = ("build", "--exclude-resource-type", "unit_test")


class DbtFailed(AgentAnalyticsError):
    """dbt exited non-zero (its own output says why), or could not be started."""


class ProjectNotFound(AgentAnalyticsError, FileNotFoundError):
    """No dbt project around this package or in the current directory."""


def project_dir() -> Path:
    """The dbt project: the checkout this package was installed from, or the current directory."""
    here = Path(__file__).resolve()
    for candidate in (*here.parents, Path.cwd()):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise ProjectNotFound("no dbt_project.yml found: run agent-analytics from the project checkout")


def ensure_profile(project: Path) -> Path:
    """dbt reads profiles.yml from the project first; make it from the example when missing."""
    profile = project / "profiles.yml"
    if not profile.exists():
        shutil.copyfile(project / "profiles.yml.example", profile)
    return project


def dbt_executable() -> str:
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else "dbt"


def dbt_environment(
    target: Connection, extra: Mapping[str, str] | None = None, colours: bool = False
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if not colours:
        env["DBT_USE_COLORS"] = "false"
    env.update(target.env())
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env.setdefault("DBT_PROFILES_DIR", str(ensure_profile(project_dir())))
    env.update(extra or {})
    return env


def run_dbt(
    args: Sequence[str],
    target: Connection,
    *,
    extra_env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    project = project_dir()
    command = [dbt_executable(), *args, "--project-dir", str(project)]
    # dbt colours its log even into a pipe or a file: only a terminal gets colours.
    colours = not capture and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    try:
        result = subprocess.run(
            command,
            cwd=project,
            env=dbt_environment(target, extra_env, colours),
            text=True,
            capture_output=capture,
            check=False,
        )
    except FileNotFoundError as error:
        raise DbtFailed(f"cannot run dbt ({command[0]} is missing): reinstall agent-analytics") from error
    if result.returncode != 0:
        detail = ""
        if capture:
            lines = (result.stdout + result.stderr).strip().splitlines()
            detail = "\n" + "\n".join(lines[-40:])
        raise DbtFailed(f"`dbt {' '.join(args)}` failed (exit {result.returncode}){detail}")
    return result


def summary(output: str) -> str | None:
    """dbt's last line of counts ("PASS=213 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=213"), if it printed one."""
    found = re.findall(r"Done\. (PASS=.*)", output)
    return found[-1].strip() if found else None
