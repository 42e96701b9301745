"""The one base of every error this package raises on purpose."""

from __future__ import annotations


class AgentAnalyticsError(RuntimeError):
    """Something the user can act on: the message says what went wrong and what to do. The CLI
    prints it as one line, without a traceback; anything else is a bug and keeps its traceback."""
