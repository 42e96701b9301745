"""How long the deploy step recent_activity holds up the app's event writes
(./scripts/measure-deploy-lock): on generated data in a Supabase-like cluster of its own (removed
afterwards), the owner's deploy is run while one session inserts an event every 50 ms and another
updates an event of the window every 250 ms, as the app and an erasure would. Each round deploys
the step three times: as a first deploy of it (the table, its triggers and its step record
dropped before, as the upgrade to the version that brought it finds them), again over the table
(its step record dropped, as an upgrade that changes the step's SQL finds it), and again with a
wider window (recent_activity_days one more, which changes the step's SQL and adds a day to
copy). Prints, per deploy, its time and the longest wait of an insert and of an update."""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from agent_analytics import bootstrap, cluster, db, generate

INSERT_EVERY = 0.05
UPDATE_EVERY = 0.25


@dataclass
class Writer:
    """A session that runs `statement` every `every` seconds until stopped, timing each."""

    target: db.Connection
    statement: str
    params: tuple
    every: float
    waits: list[float] = field(default_factory=list)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(300)

    def _run(self) -> None:
        try:
            with db.connect(self.target) as conn:
                while not self._stop.is_set():
                    started = time.monotonic()
                    conn.execute(self.statement, self.params)
                    self.waits.append(time.monotonic() - started)
                    self._stop.wait(self.every)
        except BaseException as error:  # reported by the caller, in the main thread
            self.error = error


@dataclass(frozen=True)
class DeployTimes:
    kind: str
    deploy_seconds: float
    longest_insert: float
    longest_update: float
    inserts: int
    updates: int


def forget_the_step(database: db.Server, *, table: bool = True) -> None:
    """The step's record gone, so that the next deploy runs it; with `table`, the table and its
    triggers too, so that it makes them as the upgrade to the version that brought them does."""
    with db.connect(database.project) as conn:
        if table:
            conn.execute("drop table if exists analytics.user_activity_recent")
            # the step's triggers are those that run its functions (macro recent_event_triggers)
            triggers = conn.execute(
                "select t.tgname from pg_trigger as t inner join pg_proc as p on t.tgfoid = p.oid "
                "where t.tgrelid = 'analytics.user_activity'::regclass "
                "and p.pronamespace = 'analytics_internal'::regnamespace and p.proname like '%\\_recent\\_events'"
            ).fetchall()
            for (name,) in triggers:
                conn.execute(sql.SQL("drop trigger {} on analytics.user_activity").format(sql.Identifier(name)))
        conn.execute("delete from analytics_internal.deploy_steps where step = 'recent_activity'")
    with db.connect(database.admin) as conn:
        conn.execute("checkpoint")


def deploy_under_writes(target: db.Connection, kind: str, days: int, member: tuple, event: tuple) -> DeployTimes:
    inserter = Writer(target, "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name) "
                      "values (%s, %s, 'page_view', 'written during the deploy')", member, INSERT_EVERY)
    updater = Writer(target, "update analytics.user_activity set page_path = coalesce(page_path, '/') "
                     "where id = %s and created_at = %s", event, UPDATE_EVERY)
    inserter.start()
    updater.start()
    time.sleep(1)
    started = time.monotonic()
    try:
        bootstrap.deploy(target, dbt_args=("--vars", f"{{recent_activity_days: {days}}}"))
        deploy_seconds = time.monotonic() - started
        time.sleep(1)
    finally:
        inserter.stop()
        updater.stop()
    for writer in (inserter, updater):
        if writer.error:
            raise writer.error
    return DeployTimes(kind, deploy_seconds, max(inserter.waits), max(updater.waits),
                       len(inserter.waits), len(updater.waits))


def in_window(target: db.Connection) -> tuple[tuple, tuple, int]:
    """A member (user, workspace), an event of the window (id, created_at) and the window's size."""
    with db.connect(target) as conn:
        member = conn.execute("select user_id, workspace_id from public.workspace_members limit 1").fetchone()
        event = conn.execute("select id, created_at from analytics.user_activity "
                             "where created_at >= now() - interval '2 days' limit 1").fetchone()
        count = conn.execute("select count(*) from analytics.user_activity "
                             "where created_at >= now() - interval '8 days'").fetchone()[0]
    return member, event, count


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (of {', '.join(f'{v:.2f}' for v in values)})"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="measure-deploy-lock", description=__doc__)
    parser.add_argument("scale", nargs="?", default="medium", choices=sorted(generate.SCALES))
    parser.add_argument("rounds", nargs="?", type=int, default=2)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"rounds must be 1 or more, not {args.rounds}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    folder = Path(tempfile.mkdtemp(prefix="aa-deploy-lock-"))
    server = cluster.Cluster(cluster.binaries_named("machine" if cluster.machine_binaries() else "embedded"),
                             folder / "data", folder / "run", throwaway=True)
    try:
        server.create()
        database, counts = generate.demo_database(
            server.server(), "aa_deploy_lock", generate.GenerateOptions(scale=generate.SCALES[args.scale], seed=20))
        member, event, window = in_window(database.project)
        print(f"{args.scale}: {counts}; {window:,} events in the last 8 days", flush=True)
        results: list[DeployTimes] = []
        for round_number in range(args.rounds):
            for kind, days, table in (("first deploy of the step", 8, True), ("the step again", 8, False),
                                      ("the step again, one day more", 9 + round_number, False)):
                if days == 8:
                    forget_the_step(database, table=table)
                result = deploy_under_writes(database.project, kind, days, member, event)
                results.append(result)
                print(f"round {round_number + 1}, {kind}: deploy {result.deploy_seconds:.1f} s, longest insert "
                      f"{result.longest_insert:.2f} s ({result.inserts} inserts), longest update "
                      f"{result.longest_update:.2f} s ({result.updates} updates)", flush=True)
        for kind in dict.fromkeys(result.kind for result in results):
            mine = [result for result in results if result.kind == kind]
            print(f"{kind}: deploy {median([r.deploy_seconds for r in mine])}; longest insert "
                  f"{median([r.longest_insert for r in mine])}; longest update "
                  f"{median([r.longest_update for r in mine])}")
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
