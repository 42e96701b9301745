"""The worker's loop: each pass runs the steps that are due (config.STEPS order), each under its
advisory lock and recorded in analytics.pipeline_runs; then it sleeps until the next one is due.
When a step is due comes from the database (the last run of each step, on the database's
clock), so a restarted worker, or a second one on another machine, keeps the same schedule.

SIGTERM or Ctrl-C: the step that runs is finished, then the worker exits 0. A second one
abandons it: dbt cancels its queries, the step is recorded as abandoned, and the next build
takes in whatever the abandoned one did not (a build's writes and watermarks commit together).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from agent_analytics import db, pg_cron
from agent_analytics.alerts.settings import AlertSettings
from agent_analytics.worker import health, locks, steps
from agent_analytics.worker.config import WorkerConfig
from agent_analytics.worker.dbt_build import InProcessDbt
from agent_analytics.worker.log import JsonLog

# The longest the worker sleeps before it looks at the schedule again (another worker may have
# run a step meanwhile), and before it retries a step another worker holds.
LOOK_AGAIN = timedelta(seconds=30)


class Abandoned(KeyboardInterrupt):
    """The second stop signal: leave the running step now. A KeyboardInterrupt, which dbt answers
    by cancelling its running queries, and which no handler of ordinary errors takes for a
    failure of the step."""


@dataclass
class PassResult:
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


@dataclass
class Worker:
    target: db.Connection
    config: WorkerConfig
    alert_settings: AlertSettings
    build_role: str
    log: JsonLog = field(default_factory=JsonLog)
    runner: InProcessDbt | None = None
    name: str = field(default_factory=health.worker_name)
    stop: threading.Event = field(default_factory=threading.Event)
    # steps another worker was found running, and when to look again (time.monotonic())
    busy_until: dict[str, float] = field(default_factory=dict)
    _in_step: bool = False
    _abandon: bool = False
    _jobs: dict[str, pg_cron.JobDefinition] | None = None
    _stop_signal: str | None = None

    def __post_init__(self) -> None:
        if self.runner is None and self.config.steps["build"].enabled:
            self.runner = InProcessDbt(self.target)

    def run_once(self) -> PassResult:
        """Each due step once. SIGTERM or Ctrl-C finish the running step first, as in run_forever."""
        restore = self._stop_on_signals()
        try:
            with db.connect(self.target) as conn:
                health.require_deployed(conn)
                return self._pass(conn)
        finally:
            restore()

    def run_forever(self) -> bool:
        """Passes until stopped; a lost database is waited for, with waits that double up to a
        minute. True when it stopped cleanly, False when a second signal abandoned a step."""
        restore = self._stop_on_signals()
        lost = 0
        clean = True
        try:
            self.log("worker_started", f"worker {self.name} running {', '.join(self.config.enabled())} on "
                     f"{self.target.describe()}", worker=self.name, steps=self.config.enabled())
            with db.connect(self.target) as conn:
                health.require_deployed(conn)
            if self.runner is not None:
                self.runner.parse()
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    with db.connect(self.target) as conn:
                        while not self.stop.is_set():
                            self._pass(conn)
                            self._sleep(self._until_next(conn))
                except (psycopg.OperationalError, db.DatabaseUnavailable) as error:
                    lost = 1 if time.monotonic() - started > 60 else lost + 1
                    wait = min(60.0, 2.0 ** lost)
                    self.log("database_lost", f"lost the database ({_first_line(error)}); connecting again in "
                             f"{wait:.0f} s", wait_seconds=wait)
                    self._sleep(timedelta(seconds=wait))
        except Abandoned:
            clean = False
        finally:
            restore()
        if self._stop_signal:
            self.log("worker_stopping", f"{self._stop_signal}: stopping", signal=self._stop_signal)
        self.log("worker_stopped", f"worker {self.name} stopped" + ("" if clean else ", a step abandoned"),
                 worker=self.name)
        return clean

    def _pass(self, conn: psycopg.Connection) -> PassResult:
        result = PassResult()
        for step in self.config.enabled():
            if self.stop.is_set():
                break
            due, now = self._due(conn, step)
            if due > now or time.monotonic() < self.busy_until.get(step, 0):
                continue
            outcome = self.run_step(conn, step)
            if outcome != "skipped":
                getattr(result, outcome).append(step)
        if self.stop.is_set() and self._stop_signal:
            self.log("worker_stopping", f"{self._stop_signal}: stopping (a second one abandons a running step)",
                     signal=self._stop_signal)
            self._stop_signal = None
        return result

    def run_step(self, conn: psycopg.Connection, step: str) -> str:
        """Run one step under its lock and record it: 'succeeded', 'failed', 'busy', or 'skipped'
        when another worker ran it between the look at the schedule and the lock."""
        try:
            with locks.holding(conn, step):
                abandoned = health.abandon_orphans(conn, step)
                if abandoned:
                    self.log("step_abandoned", f"{step}: {abandoned} earlier run(s) left running by a worker that "
                             "died are marked abandoned", step=step, runs=abandoned)
                due, now = self._due(conn, step)
                if due > now:
                    return "skipped"
                return self._run_locked(conn, step)
        except locks.StepBusy as busy:
            # its run is the other worker's: look again later, not at every pass
            self.busy_until[step] = time.monotonic() + LOOK_AGAIN.total_seconds()
            self.log("step_busy", str(busy), step=step)
            return "busy"

    def _run_locked(self, conn: psycopg.Connection, step: str) -> str:
        run_id = health.started(conn, step, self.name)
        started_at = time.monotonic()
        self.log("step_started", f"{step} started", step=step, run_id=run_id)
        self._in_step = True
        try:
            outcome = self._execute(conn, step)
        except Abandoned:
            self._in_step = False
            self._abandon_step(step, run_id)
        except Exception as error:  # noqa: BLE001 - any failure of a step is recorded, reported and retried
            self._in_step = False
            if self._abandon:
                # dbt answers the interruption by cancelling its queries, and reports that as a failure
                self._abandon_step(step, run_id)
            if conn.broken or conn.closed or isinstance(error, db.DatabaseUnavailable):
                # the connection is gone: run_forever connects again, and the run left
                # `running` is marked abandoned by whoever takes the step's lock next
                raise
            self._record_failure(conn, step, run_id, error, started_at)
            return "failed"
        finally:
            self._in_step = False
        if self._abandon:
            self._abandon_step(step, run_id)
        next_run = self._db_started(conn, run_id) + self.config.steps[step].every
        health.ended(conn, run_id, "succeeded", rows_written=outcome.rows_written,
                     neutralized_events=outcome.neutralized_events, next_run_at=next_run, nodes=outcome.nodes)
        self.log("step_succeeded", f"{step} succeeded in {time.monotonic() - started_at:.1f} s: {outcome.summary}",
                 step=step, run_id=run_id, seconds=round(time.monotonic() - started_at, 2),
                 rows_written=outcome.rows_written, neutralized_events=outcome.neutralized_events,
                 next_run_at=next_run)
        return "succeeded"

    def _record_failure(self, conn: psycopg.Connection, step: str, run_id: int, error: Exception,
                        started_at: float) -> None:
        failures = self._failures_in_a_row(conn, step) + 1
        retry = self.config.retry.after(failures)
        nodes = error.nodes if isinstance(error, steps.StepFailed) else ()
        message = str(error) if isinstance(error, steps.StepFailed) else f"{type(error).__name__}: {error}"
        # a NUL byte cannot be stored in text
        message = message.replace("\x00", "")
        next_run = self._db_now(conn) + retry
        try:
            health.ended(conn, run_id, "failed", error=message, next_run_at=next_run, nodes=nodes)
        except psycopg.Error:
            # the nodes' messages may be what the table refuses: the outcome matters more
            health.ended(conn, run_id, "failed", error=message[:500], next_run_at=next_run)
        self.log("step_failed", f"{step} failed ({message}); trying again in {retry}", step=step, run_id=run_id,
                 seconds=round(time.monotonic() - started_at, 2), failures_in_a_row=failures,
                 retry_seconds=retry.total_seconds(), error=message, level="error")

    def _execute(self, conn: psycopg.Connection, step: str) -> steps.StepOutcome:
        if step == "build":
            assert self.runner is not None
            return steps.build(conn, self.runner, self.build_role)
        if step == "alerts":
            return steps.alerts(conn, self.alert_settings,
                                lambda line: self.log("alert_delivery", line, step="alerts"))
        if step == "live":
            return steps.live(conn, self._job("live"))
        if step == "retention":
            return steps.retention(conn, self._job("retention"))
        return steps.partitions(conn, self._job("partitions"))

    def _job(self, key: str) -> pg_cron.JobDefinition:
        """The in-database job `key` as the dbt project renders it (the pg_cron jobs' own
        definitions), rendered once per worker: a dbt run of its own, on first use."""
        if self._jobs is None:
            self._jobs = {job.key: job for job in pg_cron.job_definitions(self.target)}
        return self._jobs[key]

    def _due(self, conn: psycopg.Connection, step: str) -> tuple[datetime, datetime]:
        """When `step` is next due, and the database's now."""
        row = conn.execute(
            "select now(), s.outcome, s.started_at, s.ended_at, s.failures_in_a_row "
            "from (select 1) as one left join analytics.pipeline_status as s on s.step = %s", (step,),
        ).fetchone()
        now, outcome, started_at, ended_at, failures = row
        if outcome is None or outcome == "running":
            return now, now
        if outcome in ("failed", "abandoned"):
            return min(ended_at, now) + self.config.retry.after(max(failures, 1)), now
        return min(started_at, now) + self.config.steps[step].every, now

    def _until_next(self, conn: psycopg.Connection) -> timedelta:
        waits = []
        for step in self.config.enabled():
            due, now = self._due(conn, step)
            busy = timedelta(seconds=self.busy_until.get(step, 0) - time.monotonic())
            waits.append(max(due - now, busy))
        return max(timedelta(seconds=1), min([LOOK_AGAIN, *waits]))

    def _failures_in_a_row(self, conn: psycopg.Connection, step: str) -> int:
        row = conn.execute("select failures_in_a_row from analytics.pipeline_status where step = %s", (step,)).fetchone()
        return row[0] if row else 0

    @staticmethod
    def _db_now(conn: psycopg.Connection) -> datetime:
        return conn.execute("select now()").fetchone()[0]

    @staticmethod
    def _db_started(conn: psycopg.Connection, run_id: int) -> datetime:
        return conn.execute("select started_at from analytics.pipeline_runs where id = %s", (run_id,)).fetchone()[0]

    def _abandon_step(self, step: str, run_id: int) -> None:
        """Record the run as abandoned and cancel the build's statements still running (dbt's own
        cancel, pg_terminate_backend as the build role, is refused: the sessions are the
        owner's), then leave: raises Abandoned."""
        try:
            # on a connection of its own: the worker's may be in the middle of the step's statement
            with db.connect(self.target) as conn:
                health.ended(conn, run_id, "abandoned", error="abandoned on a second stop signal")
                cancelled = conn.execute(
                    "select count(*) filter (where pg_cancel_backend(a.pid)) from pg_stat_activity as a "
                    "where a.datname = current_database() and a.application_name = 'dbt' "
                    "and a.pid <> pg_backend_pid() and a.state = 'active' "
                    "and a.backend_start >= (select started_at from analytics.pipeline_runs where id = %s)",
                    (run_id,),
                ).fetchone()[0]
        except (psycopg.Error, db.DatabaseUnavailable):
            cancelled = None  # the next worker marks the run abandoned when it takes the step's lock
        self.log("step_abandoned", f"{step} abandoned on a second stop signal", step=step, run_id=run_id,
                 cancelled_statements=cancelled)
        raise Abandoned

    def _sleep(self, wait: timedelta) -> None:
        self.stop.wait(max(wait.total_seconds(), 0))

    def _stop_on_signals(self) -> Callable[[], None]:
        """The first SIGTERM or SIGINT stops after the running step; a second abandons it."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}

        def handle(signum: int, _frame: object) -> None:
            # no logging here: the main thread may be inside a write to stdout
            if self.stop.is_set() and self._in_step:
                self._abandon = True
                raise Abandoned
            if not self.stop.is_set():
                self._stop_signal = signal.Signals(signum).name
            self.stop.set()

        for number in previous:
            signal.signal(number, handle)

        def restore() -> None:
            for number, handler in previous.items():
                signal.signal(number, handler)

        return restore


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
