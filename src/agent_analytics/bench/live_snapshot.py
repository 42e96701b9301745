"""The live snapshot during the benchmark's live queries, as a project with its worker has it:
the live functions answer from it while it is at most a minute old (docs/live-metrics.md, "The
snapshot"). The dashboard and load sections take it while they time a query whose header says
`-- snapshot: live`, and forget it after, so that what they time next computes the live part as
a project without a worker does."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg

from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.options import BenchError
from agent_analytics.worker.config import WorkerConfig

# How often the worker's `live` step takes the live snapshot by default.
LIVE_SNAPSHOT_EVERY_S = WorkerConfig().steps["live"].every.total_seconds()


@contextlib.contextmanager
def live_snapshot_taken(bench: RunDatabase, every_s: float = LIVE_SNAPSHOT_EVERY_S) -> Iterator[None]:
    """The live snapshot taken now and then every `every_s` seconds until the block ends, on a
    connection of its own, as the worker's `live` step takes it: its cost falls on the requests
    timed meanwhile, as the worker's would. Forgotten when the block ends. A refresh that fails
    ends the block with its error."""
    stop = threading.Event()
    failed: list[BaseException] = []
    with bench.connect() as conn:
        conn.execute("select analytics.refresh_live_metrics()")

        def keep_taking() -> None:
            try:
                while not stop.wait(every_s):
                    conn.execute("select analytics.refresh_live_metrics()")
            except psycopg.Error as error:
                failed.append(error)

        taker = threading.Thread(target=keep_taking, name="live snapshot", daemon=True)
        taker.start()
        try:
            yield
        finally:
            stop.set()
            taker.join()
            conn.execute("delete from analytics_internal.live_snapshots")
    if failed:
        raise BenchError(f"the live snapshot could not be taken: {failed[0]}") from failed[0]
