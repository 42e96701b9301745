"""What a new user meets in their first hour, run as they run it: the installed
`agent-analytics` in a process of its own, with an embedded server of its own in a temporary
folder (AGENT_ANALYTICS_PGDATA) instead of the checkout's .pgdata."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).with_name("agent-analytics")


def test_version_prints_the_package_version():
    result = subprocess.run([CLI, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == f"agent-analytics {importlib.metadata.version('agent-analytics')}"
