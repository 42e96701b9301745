"""The hourly build three ways, in one run on the same database (issue: the worker's build
within 1.5x the floor): through the worker (dbt in-process, the project parsed once), as plain
`dbt build` (a process of its own, dbt's start-up and parsing included), and the floor: the
time the server itself spent executing every statement the build sent, summed from its log
(log_min_duration_statement = 0 for the database while it runs). Each build follows an appended
hour of generated data, the worker's and the plain ones in turn, so both see the same kind of hour.

The worker's runner changes this process's environment for dbt (worker.dbt_build): run it in a
process of its own (scripts/measure-worker-build)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from psycopg import sql

from agent_analytics import db, dbt, generate
from agent_analytics.worker.dbt_build import InProcessDbt

_DURATION = re.compile(rb"duration: ([0-9.]+) ms")


@dataclass(frozen=True)
class TimedBuild:
    seconds: float  # end to end, as the caller waits for it
    floor_seconds: float  # the server's execution time of every statement it sent


@dataclass
class WorkerBuilds:
    parse_seconds: float
    worker: list[TimedBuild] = field(default_factory=list)
    plain: list[TimedBuild] = field(default_factory=list)

    @staticmethod
    def median(builds: list[TimedBuild], measure: Callable[[TimedBuild], float]) -> float:
        return statistics.median(measure(build) for build in builds)

    def summary(self) -> str:
        floor = self.median(self.worker + self.plain, lambda build: build.floor_seconds)
        worker = self.median(self.worker, lambda build: build.seconds)
        plain = self.median(self.plain, lambda build: build.seconds)
        rows = [
            ("the worker's build (dbt in-process, parsed once)", worker, [b.seconds for b in self.worker]),
            ("plain `dbt build` (a new process)", plain, [b.seconds for b in self.plain]),
            ("the floor: the server's time for the same SQL", floor,
             [b.floor_seconds for b in self.worker + self.plain]),
        ]
        lines = ["| build after an appended hour | median | × floor | runs |", "| --- | --- | --- | --- |"]
        for name, value, values in rows:
            lines.append(f"| {name} | {value:.2f} s | {value / floor:.2f} | "
                         + ", ".join(f"{v:.2f}" for v in values) + " |")
        lines.append(f"\nThe worker parsed the project once, in {self.parse_seconds:.1f} s.")
        return "\n".join(lines)


def measure(project: db.Connection, admin: db.Connection, server_log: Path, rounds: int, target_path: Path,
            report: Callable[[str], None] = lambda line: None) -> WorkerBuilds:
    with db.connect(admin) as conn:
        conn.execute(sql.SQL("alter database {} set log_min_duration_statement = 0").format(
            sql.Identifier(project.dbname)))
    try:
        runner = InProcessDbt(project, target_path)
        started = time.perf_counter()
        runner.parse()
        result = WorkerBuilds(parse_seconds=time.perf_counter() - started)

        def worker_build() -> None:
            built = runner.build()
            if not built.succeeded:
                raise dbt.DbtFailed(f"the worker's build failed: {built.error}")

        def plain_build() -> None:
            dbt.run_dbt([*dbt.SCHEDULED_BUILD, "--target-path", str(target_path)], project, capture=True)

        for round_number in range(1, rounds + 1):
            for label, build, kept in (("worker", worker_build, result.worker), ("plain", plain_build, result.plain)):
                with db.connect(admin) as conn:
                    generate.append(conn, timedelta(hours=1))
                kept.append(_timed(build, server_log))
                report(f"round {round_number}/{rounds}, {label}: {kept[-1].seconds:.2f} s, "
                       f"floor {kept[-1].floor_seconds:.2f} s")
        return result
    finally:
        with db.connect(admin) as conn:
            conn.execute(sql.SQL("alter database {} reset log_min_duration_statement").format(
                sql.Identifier(project.dbname)))


def _timed(build: Callable[[], None], server_log: Path) -> TimedBuild:
    mark = server_log.stat().st_size
    started = time.perf_counter()
    build()
    seconds = time.perf_counter() - started
    with server_log.open("rb") as log:
        log.seek(mark)
        floor = sum(float(found) for found in _DURATION.findall(log.read())) / 1000
    return TimedBuild(seconds=round(seconds, 3), floor_seconds=round(floor, 3))
