"""What a new user meets in their first hour, run as they run it: the installed
`agent-analytics` in a process of its own, with an embedded server of its own in a temporary
folder (AGENT_ANALYTICS_PGDATA) instead of the checkout's .pgdata."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_analytics import dbt, postmaster

CLI = Path(sys.executable).with_name("agent-analytics")
PROJECT = dbt.project_dir()


@dataclass
class Shell:
    """A user's shell with no PG* variables, whose embedded server keeps its data in `folder`."""

    folder: Path
    env: dict[str, str]

    @property
    def data_dir(self) -> Path:
        return self.folder / ".pgdata"

    def run(self, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), *args], env={**self.env, **(env or {})}, cwd=self.folder, input=stdin,
                              capture_output=True, text=True, timeout=600, check=False)


def shell_in(folder: Path) -> Shell:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("PG") and name not in {"FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"}}
    env.update(AGENT_ANALYTICS_PGDATA=str(folder / ".pgdata"), DBT_TARGET_PATH=str(folder / "target"),
               DBT_LOG_PATH=str(folder / "logs"))
    return Shell(folder, env)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    made = shell_in(tmp_path)
    yield made
    postmaster.stop(made.data_dir)
    shutil.rmtree(made.data_dir, ignore_errors=True)


def test_version_prints_the_package_version():
    result = subprocess.run([CLI, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == f"agent-analytics {importlib.metadata.version('agent-analytics')}"


def test_stop_leaves_alone_a_process_that_reuses_the_pid_of_a_stale_pid_file(shell):
    assert shell.run("env").returncode == 0  # makes and starts the embedded server
    pid_file = shell.data_dir / "postmaster.pid"
    recorded = pid_file.read_text().splitlines(keepends=True)
    assert shell.run("stop").stdout.strip() == "embedded PostgreSQL stopped"
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        # What a reboot leaves: the server's pid file, its number now another process's.
        pid_file.write_text(f"{bystander.pid}\n" + "".join(recorded[1:]))
        stopped = shell.run("stop")
        assert stopped.returncode == 0 and stopped.stdout.strip() == "embedded PostgreSQL was not running"
        assert bystander.poll() is None, "stop signalled a process that is not the server"

        started = shell.run("status")  # the stale pid file does not keep the server from starting
        assert started.returncode == 0, started.stdout + started.stderr
        assert postmaster.server_pid(shell.data_dir) not in {None, bystander.pid}
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_shell_with_the_exports_of_env_starts_the_embedded_server_again_after_a_stop(shell):
    """The PG* variables that `env` printed mean the embedded server, not a database of the
    user's: after `stop` (or a reboot) every command starts it again instead of failing."""
    script = f"""
        set -euo pipefail
        eval "$({CLI} env)"
        {CLI} stop
        {CLI} status
        {CLI} psql -Atc 'select current_user'
    """
    result = subprocess.run(["bash", "-c", script], env=shell.env, cwd=shell.folder, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded PostgreSQL stopped" in result.stdout
    assert result.stdout.strip().endswith("postgres")
    assert postmaster.server_pid(shell.data_dir) is not None


def test_pg_variables_for_another_server_are_not_taken_for_the_embedded_one(shell):
    exported = dict(line.removeprefix("export ").split("=", 1) for line in shell.run("env").stdout.splitlines())
    assert shell.run("stop").returncode == 0
    result = shell.run("status", env={**exported, "PGPORT": "5499"})
    assert result.returncode == 1
    assert "check the PG* variables" in result.stderr
    assert postmaster.server_pid(shell.data_dir) is None


def _remove(path: Path) -> None:
    path.unlink()


def _garble(path: Path) -> None:
    path.write_bytes(b"\0" * path.stat().st_size)


@pytest.mark.parametrize("damaged, damage, named", [
    ("global/pg_control", _remove, "global/pg_control is missing"),
    ("PG_VERSION", _remove, "no PG_VERSION file"),
    ("agent-analytics-supabase", _remove, "did not finish setting it up"),
    ("global/pg_control", _garble, "does not start"),  # whole to look at; the server refuses it
])
def test_a_damaged_data_folder_gets_one_paragraph_naming_it_and_the_way_out(shell, damaged, damage, named):
    assert shell.run("env").returncode == 0
    assert shell.run("stop").returncode == 0
    damage(shell.data_dir / damaged)
    result = shell.run("status")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    [paragraph] = result.stderr.splitlines()
    assert paragraph.startswith("error: ")
    assert str(shell.data_dir) in paragraph and named in paragraph
    assert "`agent-analytics reset` deletes the folder" in paragraph


def test_reset_asks_before_it_stops_the_server_and_deletes_its_data(shell):
    assert shell.run("env").returncode == 0
    server = postmaster.server_pid(shell.data_dir)
    for answer in ("n\n", ""):  # a no, and no answer at all (a script)
        declined = shell.run("reset", stdin=answer)
        assert declined.returncode == 1 and "nothing deleted" in declined.stdout
        assert shell.data_dir.exists() and postmaster.server_pid(shell.data_dir) == server
    accepted = shell.run("reset", stdin="y\n")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "deleted" in accepted.stdout
    assert not shell.data_dir.exists() and not postmaster.is_server_of(server, shell.data_dir)
    assert shell.run("reset", "--yes").stdout.startswith("nothing to reset")


def test_reset_starts_over_from_a_damaged_folder_whose_server_still_runs(shell):
    assert shell.run("env").returncode == 0
    server = postmaster.server_pid(shell.data_dir)
    (shell.data_dir / "PG_VERSION").unlink()  # pg_ctl can no longer stop this server
    result = shell.run("reset", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not shell.data_dir.exists() and not postmaster.is_server_of(server, shell.data_dir)
    assert shell.run("env").returncode == 0  # a new one is made


def test_reset_leaves_a_database_named_by_pg_variables_alone(shell):
    assert shell.run("env").returncode == 0
    result = shell.run("reset", "--yes", env={"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGDATABASE": "theirs"})
    assert result.returncode == 1
    assert "reset deletes the embedded server's data only" in result.stderr
    assert "database 'theirs'" in result.stderr
    assert (shell.data_dir / "PG_VERSION").exists() and postmaster.server_pid(shell.data_dir)


@pytest.fixture(scope="module")
def tiny_up(tmp_path_factory) -> Iterator[tuple[Shell, subprocess.CompletedProcess[str]]]:
    """A shell in which `agent-analytics up --scale tiny` ran, its output piped."""
    made = shell_in(tmp_path_factory.mktemp("up"))
    first = made.run("up", "--scale", "tiny")
    yield made, first
    postmaster.stop(made.data_dir)
    shutil.rmtree(made.data_dir, ignore_errors=True)


def test_up_on_data_of_another_scale_says_what_is_there_and_how_to_start_over(tiny_up):
    shell, first = tiny_up
    assert first.returncode == 0, first.stdout + first.stderr
    result = shell.run("up", "--scale", "small")
    assert result.returncode == 1
    [message] = result.stderr.splitlines()
    assert "already holds demo data (scale tiny, seed 42, data up to " in message
    assert "--scale small would not be applied" in message
    assert "run `agent-analytics reset`, then `agent-analytics up --scale small`" in message




def test_a_second_up_names_the_first_and_ctrl_c_ends_the_first_with_one_line(shell):
    # A command typed at a terminal gets Ctrl-C; a test run as a background job (CI's, say)
    # would pass on its ignoring of SIGINT, which the CLI rightly keeps.
    first = subprocess.Popen([CLI, "up", "--scale", "tiny"], env=shell.env, cwd=shell.folder, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Its first line comes once it holds the lock and its server runs.
        assert first.stdout.readline().strip().startswith("using database ")
        second = shell.run("up", "--scale", "tiny")
        assert second.returncode == 1
        assert second.stderr.startswith(f"error: another agent-analytics up is running (pid {first.pid})")
        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C: the signal reaches its whole process group
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 130
    assert err.strip() == "interrupted"
    assert "Traceback" not in out


def test_up_prints_a_short_summary_without_escape_codes_when_piped(tiny_up):
    _, first = tiny_up
    assert first.returncode == 0, first.stdout + first.stderr
    output = first.stdout + first.stderr
    assert "\x1b" not in output
    lines = output.splitlines()
    assert len(lines) <= 15, output
    assert lines[0].strip().startswith("using database 'postgres' as 'postgres' on embedded server")
    assert any("dbt build as the build role: PASS=" in line and "ERROR=0" in line for line in lines)
    assert any(line.startswith("rows in analytics: ") and "daily_metrics" in line for line in lines)
    assert lines[-1].startswith("done in ")


def test_up_again_keeps_the_data_says_so_and_verbose_shows_the_log_of_dbt(tiny_up):
    shell, first = tiny_up
    assert first.returncode == 0, first.stdout + first.stderr
    again = shell.run("up", "--verbose")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "\x1b" not in again.stdout + again.stderr
    assert "Running with dbt=" in again.stdout and "Completed successfully" in again.stdout
    assert "kept the demo data already there (scale tiny, seed 42, data up to " in again.stdout
    assert "to start over, run `agent-analytics reset`, then `agent-analytics up`" in again.stdout


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_link_of_the_readme_and_the_docs_reaches_a_file_of_the_repository():
    tracked = subprocess.run(["git", "ls-files", "README.md", "docs"], cwd=PROJECT, capture_output=True, text=True,
                             check=True).stdout.split()
    broken = []
    for page in (PROJECT / name for name in tracked if name.endswith(".md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.is_file() or PROJECT.resolve() not in linked.parents:
                broken.append(f"{page.relative_to(PROJECT)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(PROJECT)}: {target} (no such heading)")
    assert broken == []
