"""The runs of one output folder side by side: how the incremental build grows with the history."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_analytics.bench.results import BenchResults

SCALES_IN_ORDER = ("tiny", "small", "medium", "large")


@dataclass(frozen=True)
class ScalingPoint:
    """What the comparison needs of a run: read from the run's results, or from the JSON of
    another run, of which it reads only these figures, so that runs of earlier versions count."""

    label: str
    scale: str
    events: int
    days: int  # of data: the history and two days for the retention to drop
    hourly_builds: tuple[float, ...]  # seconds of each build after --append 1h
    hourly_events: tuple[int, ...]  # events each of those appended hours brought

    @classmethod
    def of(cls, results: BenchResults) -> ScalingPoint:
        hours = results.builds.append_1h
        return cls(label=results.label, scale=results.scale, events=results.data.events, days=results.data.days,
                   hourly_builds=tuple(build.seconds for build in hours),
                   hourly_events=tuple(build.appended.events for build in hours if build.appended))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScalingPoint:
        hours = data["builds"].get("append_1h") or []
        return cls(label=data.get("label") or data["scale"], scale=data["scale"], events=data["data"]["events"],
                   days=data["data"]["days"], hourly_builds=tuple(build["seconds"] for build in hours),
                   hourly_events=tuple(build["appended"]["events"] for build in hours if "appended" in build))

    @property
    def build_1h_median(self) -> float | None:
        return statistics.median(self.hourly_builds) if self.hourly_builds else None

    @property
    def events_per_hour(self) -> float | None:
        return statistics.median(self.hourly_events) if self.hourly_events else None


def other_runs(output: Path, label: str) -> dict[str, ScalingPoint]:
    """The other scales and histories already in the output folder, by label: files named
    <label>.json by the benchmark."""
    found = {}
    for path in sorted(output.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(data, dict) and data.get("scale") in SCALES_IN_ORDER and "builds" in data):
                continue
            point = ScalingPoint.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if point.label != label and path.stem == point.label:
            found[point.label] = point
    return found


def in_scaling_order(this: ScalingPoint, others: dict[str, ScalingPoint]) -> list[ScalingPoint]:
    """This run and the others, smallest history first."""
    return sorted({**others, this.label: this}.values(), key=lambda point: point.events)
