"""The scheduled dbt build in this process, through dbt's programmatic runner: the project is
parsed once and the manifest kept, so that each build costs its SQL rather than dbt's start-up
(importing dbt, reading the profile and parsing the project take seconds, more than an hourly
build's SQL at medium scale)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent_analytics import db, dbt
from agent_analytics.worker.health import NodeResult

# dbt's statuses that end a build as failed.
FAILED = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class BuildResult:
    succeeded: bool
    nodes: Sequence[NodeResult]
    error: str | None

    @property
    def rows_written(self) -> int:
        return sum(node.rows_written or 0 for node in self.nodes if node.resource_type in ("model", "seed", "snapshot"))


class InProcessDbt:
    """dbt in this process, pointed at `target` as `agent-analytics build` points it."""

    def __init__(self, target: db.Connection, target_path: Path | None = None) -> None:
        self.project = dbt.project_dir()
        self.target_path = target_path
        # dbt reads the profile's env_var() from this process's environment: the target's
        # variables and dbt's settings are set in it (the rest, PGSSLROOTCERT say, is kept)
        os.environ.update(dbt.dbt_environment(target))
        self._manifest = None

    def _args(self, *args: str) -> list[str]:
        extra = ["--target-path", str(self.target_path)] if self.target_path else []
        # dbt logs to its file (logs/dbt.log, at dbt's default level) only: the worker's
        # stdout is its own JSON lines
        return [*args, "--project-dir", str(self.project), "--log-level", "none", "--log-level-file", "debug",
                *extra]

    def parse(self) -> None:
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(self._args("parse"))
        if not result.success or result.result is None:
            raise dbt.DbtFailed(f"dbt could not parse the project: {_reason(result)}")
        self._manifest = result.result

    def build(self) -> BuildResult:
        from dbt.cli.main import dbtRunner

        if self._manifest is None:
            self.parse()
        result = dbtRunner(manifest=self._manifest).invoke(self._args(*dbt.SCHEDULED_BUILD))
        if isinstance(result.exception, KeyboardInterrupt):
            # dbt cancelled its queries and returned the interruption: it is the worker's to handle
            raise result.exception
        nodes = [_node(item) for item in getattr(result.result, "results", None) or []]
        failed = [node for node in nodes if node.outcome in FAILED]
        if result.success and not failed:
            return BuildResult(True, nodes, None)
        if failed:
            # the models' errors first: a failed source test says less than the model it stopped
            failed.sort(key=lambda node: node.resource_type != "model")
            error = "; ".join(f"{node.name}: {_one_line(node.message or node.outcome)}" for node in failed[:3])
        else:
            error = _reason(result)
        return BuildResult(False, nodes, error)


def _node(item) -> NodeResult:
    timing = {step.name: step for step in item.timing or []}
    execute = timing.get("execute")
    compile_step = timing.get("compile")
    started = (compile_step or execute).started_at if (compile_step or execute) else None
    ended = execute.completed_at if execute else None
    response = item.adapter_response or {}
    rows = response.get("rows_affected")
    return NodeResult(
        name=item.node.name if item.node.resource_type != "operation" else item.node.unique_id.rsplit(".", 1)[-1],
        resource_type=str(item.node.resource_type),
        outcome=str(item.status),
        started_at=_utc(started),
        ended_at=_utc(ended),
        rows_written=rows if isinstance(rows, int) and rows >= 0 else None,
        message=str(item.message) if item.message is not None else None,
    )


def _utc(moment: datetime | None) -> datetime | None:
    # dbt stamps its timings in naive UTC
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _one_line(text: str) -> str:
    """dbt's message without its framing ("Database Error in model x (path)", CONTEXT lines)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    kept = [line for line in lines if line and not line.startswith(("CONTEXT:", "compiled code at"))
            and not line.startswith("Database Error in ")]
    return " ".join(kept or lines[:1])


def _reason(result) -> str:
    if result.exception is not None:
        lines = str(result.exception).strip().splitlines()
        return " ".join(line.strip() for line in lines[:6]) or type(result.exception).__name__
    return "dbt reported a failure (see logs/dbt.log)"
