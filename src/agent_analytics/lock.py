"""One command at a time that changes the project's database: an exclusive lock on a file.

Two `up` at once both made the server, loaded data and built, and one ended in a deadlock.
The second now stops at once and names the first (it does not wait: a second `up` is more
often a mistake than a plan). The lock is the operating system's (flock), so a command that
dies, however it dies, releases it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent_analytics.errors import AgentAnalyticsError

LOCK_FILE = ".agent-analytics.lock"


class Busy(AgentAnalyticsError):
    """Another agent-analytics command holds the lock; the message names it."""


@contextmanager
def exclusive(folder: Path, command: str) -> Iterator[None]:
    """Hold the lock in `folder` while the block runs, or raise Busy at once."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(_holder(handle)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{command} {os.getpid()}\n")
        handle.flush()
        yield


def _holder(handle) -> str:
    handle.seek(0)
    words = handle.read().split()
    # The holder writes its name just after it takes the lock: it may not have yet.
    if len(words) == 2 and words[1].isdigit():
        command, pid = words
        return (f"another agent-analytics {command} is running (pid {pid}) on this project: wait for it to end, "
                f"or stop it (Ctrl-C in its terminal, or kill {pid})")
    return "another agent-analytics command is running on this project: wait for it to end"
