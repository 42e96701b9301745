"""What the worker runs and how often: defaults, or a small TOML file that changes some of them.

    [build]
    every = "1h"
    [live]             # the live snapshot (docs/live-metrics.md); the live functions use it up to a minute old
    every = "30s"
    [alerts]
    every = "1m"
    [retention]
    every = "1d"
    [partitions]
    every = "6h"
    [retry]            # a failed step is retried after `first`, then twice as long each time up to `longest`
    first = "30s"
    longest = "30m"

A step with `enabled = false` is not run (another scheduler, pg_cron say, runs it).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from agent_analytics.errors import AgentAnalyticsError

# The order a pass runs what is due: partitions before the build that writes into them, the
# live snapshot after the build (taken from the build's cut), the alerts after the build (a
# failed build is reported in the same pass), retention last.
STEPS = ("partitions", "build", "live", "alerts", "retention")

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# The longest interval or backoff a setting may give.
LONGEST = timedelta(days=366)


class ConfigError(AgentAnalyticsError):
    """The worker's configuration file has a setting we cannot use; the message names it."""


def parse_duration(text: object, setting: str) -> timedelta:
    """'30s', '5m', '1h', '1d' -> timedelta, or a ConfigError naming the setting."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text) if isinstance(text, str) else None
    if not found or int(found.group(1)) == 0:
        raise ConfigError(f"{setting} must be a duration such as 30s, 5m, 1h or 1d, not {text!r}")
    duration = timedelta(**{_UNITS[found.group(2)]: min(int(found.group(1)), 10**7)})
    if duration > LONGEST:
        raise ConfigError(f"{setting} must be at most {LONGEST.days} days, not {text!r}")
    return duration


@dataclass(frozen=True)
class Step:
    every: timedelta
    enabled: bool = True


@dataclass(frozen=True)
class Retry:
    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(minutes=30)

    def after(self, failures_in_a_row: int) -> timedelta:
        """How long to wait before trying again a step that failed this many times in a row."""
        doublings = min(max(failures_in_a_row - 1, 0), 40)
        return timedelta(seconds=min(self.first.total_seconds() * 2.0 ** doublings, self.longest.total_seconds()))


def _default_steps() -> dict[str, Step]:
    return {
        "partitions": Step(timedelta(hours=6)),
        "build": Step(timedelta(hours=1)),
        "live": Step(timedelta(seconds=30)),
        "alerts": Step(timedelta(minutes=1)),
        "retention": Step(timedelta(days=1)),
    }


@dataclass(frozen=True)
class WorkerConfig:
    steps: Mapping[str, Step] = field(default_factory=_default_steps)
    retry: Retry = field(default_factory=Retry)

    def enabled(self) -> list[str]:
        return [name for name in STEPS if self.steps[name].enabled]

    @classmethod
    def load(cls, path: Path | None) -> WorkerConfig:
        """The defaults, changed by the file at `path` when one is given."""
        if path is None:
            return cls()
        try:
            document = tomllib.loads(path.read_text())
        except OSError as error:
            raise ConfigError(f"cannot read the worker configuration {path}: {error.strerror}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from error
        return cls.from_document(document, str(path))

    @classmethod
    def from_document(cls, document: Mapping[str, object], source: str = "the configuration") -> WorkerConfig:
        unknown = sorted(set(document) - {*STEPS, "retry"})
        if unknown:
            raise ConfigError(f"{source}: unknown section [{unknown[0]}]; the sections are "
                              + ", ".join(f"[{name}]" for name in (*STEPS, "retry")))
        defaults = cls()
        steps = dict(defaults.steps)
        for name in STEPS:
            section = _section(document, name, {"every", "enabled"}, source)
            step = steps[name]
            if "every" in section:
                step = replace(step, every=parse_duration(section["every"], f"[{name}] every"))
            if "enabled" in section:
                if not isinstance(section["enabled"], bool):
                    raise ConfigError(f"[{name}] enabled must be true or false, not {section['enabled']!r}")
                step = replace(step, enabled=section["enabled"])
            steps[name] = step
        section = _section(document, "retry", {"first", "longest"}, source)
        retry = Retry(
            first=parse_duration(section["first"], "[retry] first") if "first" in section else defaults.retry.first,
            longest=(parse_duration(section["longest"], "[retry] longest") if "longest" in section
                     else defaults.retry.longest),
        )
        if retry.longest < retry.first:
            raise ConfigError("[retry] longest must not be shorter than [retry] first")
        return cls(steps=steps, retry=retry)


def _section(document: Mapping[str, object], name: str, keys: set[str], source: str) -> Mapping[str, object]:
    section = document.get(name, {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table of settings")
    unknown = sorted(set(section) - keys)
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]!r} in [{name}]; it takes " + ", ".join(sorted(keys)))
    return section
