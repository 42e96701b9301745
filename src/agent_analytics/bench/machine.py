"""The machine and server a run measured on, for the report's header."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from agent_analytics.bench.data import RunDatabase
from agent_analytics.bench.results import Machine

# The server settings that move the figures most. The durability ones matter to the builds,
# ingestion and the WAL figures: a throwaway cluster (the tests', the load script's) turns them off.
SETTINGS = ("shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "jit",
            "max_parallel_workers_per_gather", "random_page_cost", "synchronous_commit", "max_wal_size",
            "fsync", "full_page_writes")


def describe(bench: RunDatabase) -> Machine:
    with bench.connect() as conn:
        version = conn.execute("select version()").fetchone()[0]
        settings = dict(conn.execute(
            "select name, current_setting(name) from pg_settings where name = any(%s)", (list(SETTINGS),),
        ).fetchall())
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count(),
        memory_gib=round(_memory_bytes() / 2**30, 1),
        os=platform.platform(),
        python=platform.python_version(),
        postgres=version,
        server=bench.target.describe(),
        settings=settings,
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
