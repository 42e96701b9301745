"""What a benchmark run measured, as the runner makes it and the report reads it, and its JSON.

Each figure is an attribute of a frozen dataclass. to_json() gives the JSON the benchmark
writes (<label>.json) and from_json() reads it back, so a report can be drawn again from an
earlier run's file. A Summary is written into the object that holds it (`p50_ms` beside
`rows_median`), and optional figures are left out when absent, as the JSON has always had them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

# The sides of every comparison: our schema, and the spec's SQL in schema naive.
SIDES = ("ours", "naive")


def _inline() -> Any:
    """A field whose figures the JSON writes into the object holding it."""
    return field(metadata={"inline": True})


def _optional(default: Any = None) -> Any:
    """A figure left out of the JSON when it is None."""
    return field(default=default, metadata={"omit_none": True})


@dataclass(frozen=True, slots=True)
class Summary:
    """Median, p95, p99 and the slowest of `n` timings, in `unit` (s or ms); n = 0 when none
    were taken (then the figures are None)."""

    n: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    # not written when n = 0, so a summary of nothing reads back in seconds
    unit: str = field(default="s", compare=False)

    def to_json(self) -> dict[str, Any]:
        if not self.n:
            return {"n": 0}
        return {"n": self.n, **{f"{name}_{self.unit}": getattr(self, name) for name in ("p50", "p95", "p99", "max")}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        unit = next((key.split("_", 1)[1] for key in data if key.startswith("p50_")), "s")
        return cls(n=int(data.get("n", 0)), unit=unit,
                   **{name: _number(data.get(f"{name}_{unit}")) for name in ("p50", "p95", "p99", "max")})


def summary(values: list[float], unit: str = "s") -> Summary:
    """Median, p95 and p99 (and the count) of timings in seconds, in seconds or milliseconds."""
    scale = 1000.0 if unit == "ms" else 1.0
    ordered = sorted(value * scale for value in values)
    if not ordered:
        return Summary(unit=unit)

    def percentile(fraction: float) -> float:
        position = fraction * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    digits = 3 if unit == "ms" else 4
    return Summary(
        n=len(ordered), unit=unit,
        p50=round(percentile(0.5), digits), p95=round(percentile(0.95), digits),
        p99=round(percentile(0.99), digits), max=round(ordered[-1], digits),
    )


def ratio(ours: float | None, naive: float | None) -> float | None:
    """Ours over naive: below 1 means ours is faster."""
    if not ours or not naive:
        return None
    return round(ours / naive, 4)


# -- the run ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    repeat: int
    hourly_builds: int
    daily_builds: int
    refresh_repeat: int
    naive_limit_s: float
    load_seconds: int | None = _optional()  # runs from before the load section have none
    load_rounds: int | None = _optional()  # runs from before the rounds made one
    load_transactions: int | None = _optional()  # per client and cell, instead of load_seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSet:
    """The generated data the run started from; kept in the comment of a kept database too."""

    scale: str
    seed: int
    appended_hours: float
    days: int  # of data: the history and two days for the retention to drop
    data_start: str
    data_end: str
    workspaces: int
    users: int
    memberships: int
    agents: int
    runs: int
    events: int
    generated_seconds: float
    reused: bool = False
    data_end_after_appends: str | None = _optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    cpu: str
    cores: int | None
    memory_gib: float
    os: str
    python: str
    postgres: str
    server: str
    settings: dict[str, str]


# -- builds -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class SlowNode:
    node: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Appended:
    """What an --append before a build wrote, and how long it took."""

    events: int
    late_events: int
    runs: int
    runs_updated: int
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    seconds: float  # end to end, dbt's start-up included
    dbt_elapsed: float
    nodes: int
    slowest: list[SlowNode]
    appended: Appended | None = _optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class Builds:
    full: Build
    no_change: Build
    append_1h: list[Build] = field(default_factory=list)
    append_1d: list[Build] = field(default_factory=list)


# -- scheduled functions ------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class AggregationTiming:
    days: list[str]  # the days timed: the last complete ones
    timings: Summary = _inline()
    all_days: Summary | None = _optional()  # naive: its run over every day of the data
    computes: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregation:
    ours: AggregationTiming
    naive: AggregationTiming | None = _optional()


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshTiming:
    timings: Summary = _inline()
    timed_out_after_s: float | None = _optional()
    unavailable: str | None = _optional()  # why it was not refreshed at all
    wal_bytes_p50: float | None = _optional()  # the WAL one refresh wrote, median; runs before it have none


@dataclass(frozen=True, slots=True, kw_only=True)
class Refresh:
    """Per view, and "all" (refresh_all_materialized_views)."""

    ours: dict[str, RefreshTiming]
    naive: dict[str, RefreshTiming] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NaiveBaseline:
    load_seconds: float
    copied_from_ours: dict[str, int]
    time_limit_s: float
    first_fill_s: dict[str, float | None]  # None: stopped at the time limit


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionTiming:
    seconds: float
    events_removed: int
    events_kept: int
    hourly_rows_removed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    ours: RetentionTiming
    naive: RetentionTiming
    ratio: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvaluation:
    """One evaluation of `rules` active rules: ours in one pass, and the per-rule function it
    replaced (seconds)."""

    rules: int
    evaluated_at: str
    firing: int  # rules firing after ours
    ours: Summary
    per_rule: Summary
    ratio: float | None


# -- dashboard queries and their plans ----------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class LoadTiming:
    """One query under load: transactions per second, and each transaction's latency (ms)."""

    tps: float | None
    latency: Summary
    unavailable: str | None = _optional()  # the query could not run (a view never filled)
    # the median rows the request returned over the sampled parameters (0: it answers nothing)
    rows_median: float | None = _optional()
    # a request ran past this many seconds when probed, so the query was not put under load
    timed_out_after_s: float | None = _optional()


# [query][caller: ours-member, ours-service, naive][protocol: simple, prepared][clients]
LoadResults = dict[str, dict[str, dict[str, dict[str, LoadTiming]]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadWindow:
    """When the load section ran, by the server's clock: the live hour and day compute the UTC
    day so far, so their figures depend on how old it was."""

    started_at: str
    ended_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryTiming:
    timings: Summary = _inline()  # milliseconds
    rows_median: float | None = _optional()
    empty_results: int | None = _optional()
    unavailable: str | None = _optional()  # the query could not run (a view never filled)


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardEntry:
    """One dashboard query, per caller role ("member", "service") and side."""

    name: str
    what: str
    ours: dict[str, QueryTiming]
    naive: dict[str, QueryTiming]
    ratio: dict[str, float | None] = field(default_factory=dict)  # p95 ours over naive

    def comparable(self, role: str) -> bool:
        """Both schemas answered the query with rows: naive returned something, from a populated view."""
        ours, base = self.ours.get(role), self.naive.get(role)
        return (ours is not None and base is not None and ours.timings.n > 0 and base.timings.n > 0
                and bool(base.rows_median) and bool(ours.rows_median))


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    node: str
    relation: str
    index: str | None
    rows: float
    whole_table: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSummary:
    planning_ms: float
    execution_ms: float
    shared_hit: int
    shared_read: int
    scans: list[Scan]
    whole_table_scans: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExplainedQuery:
    query: str
    role: str
    schema: str
    plan: PlanSummary = _inline()


# -- indexes and storage ------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class UnusedIndex:
    index: str
    table: str
    bytes: int
    definition: str
    enforces: str | None  # "primary key", "unique" or None


@dataclass(frozen=True, slots=True, kw_only=True)
class CoveredIndex:
    index: str
    covered_by: str
    table: str
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexReport:
    unused: list[UnusedIndex]
    covered: list[CoveredIndex]


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSize:
    schema: str
    table: str
    kind: str
    rows: int
    populated: bool
    table_bytes: int  # heap and TOAST
    index_bytes: int
    bytes_per_row: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Footprint:
    schemas: list[str]
    total_bytes: int
    event_table_bytes: int
    bytes_per_event: float
    bytes_per_event_all_tables: float
    bytes_per_workspace_month: int
    events_per_workspace_month_for_1gb: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Storage:
    months_of_data: float
    tables: list[TableSize]
    ours: Footprint
    naive: Footprint
    bytes_per_run: float


# -- ingestion ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    rows: int
    seconds: float
    rows_per_second: int


def rate(count: int, seconds: float) -> Rate:
    return Rate(rows=count, seconds=round(seconds, 3), rows_per_second=round(count / seconds))


@dataclass(frozen=True, slots=True, kw_only=True)
class Ingestion:
    """Per path: track_event, insert_single, insert_batched_1000, copy (naive has no track_event)."""

    ours: dict[str, Rate]
    naive: dict[str, Rate]


# -- the whole run ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class BenchResults:
    scale: str
    label: str  # the scale, or <scale>-<days>d for a history of its own
    seed: int
    build_command: list[str]
    started_at: str
    options: RunOptions
    data: DataSet
    machine: Machine
    builds: Builds
    aggregation: Aggregation
    refresh: Refresh
    naive: NaiveBaseline
    dashboard: list[DashboardEntry]
    explain: list[ExplainedQuery]
    indexes: IndexReport
    storage: Storage
    ingestion: Ingestion
    retention: Retention
    seconds: float
    alerts: AlertEvaluation | None = _optional()  # runs from before the one-pass evaluation have none
    concurrency: LoadResults | None = _optional()  # runs from before the load section have none
    load_window: LoadWindow | None = _optional()  # runs without a load section, or from before 2026-12-06, have none

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResults:
        # results from before `--days` carry no label: theirs is the scale
        return from_json(cls, {"label": data["scale"], **data})


# -- JSON ---------------------------------------------------------------------------------

def to_json(value: Any) -> Any:
    """Dataclasses as objects of their fields (inline ones merged in, absent optional ones
    left out), and lists and dicts of them, as json.dumps takes them."""
    if isinstance(value, Summary):
        return value.to_json()
    if dataclasses.is_dataclass(value):
        out: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            figure = getattr(value, item.name)
            if item.metadata.get("inline"):
                out.update(to_json(figure))
            elif figure is not None or not item.metadata.get("omit_none"):
                out[item.name] = to_json(figure)
        return out
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(kind: Any, data: Any) -> Any:
    """The value of type `kind` that to_json wrote as `data`. Numbers kept as text (decimals in
    files written before the figures were typed) read back as numbers."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return from_json(inner, data)
    if origin is list:
        (inner,) = typing.get_args(kind)
        return [from_json(inner, item) for item in data]
    if origin is dict:
        _, inner = typing.get_args(kind)
        return {key: from_json(inner, item) for key, item in data.items()}
    if kind is Summary:
        return Summary.from_json(data)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        values = {}
        for item in dataclasses.fields(kind):
            if item.metadata.get("inline"):
                values[item.name] = from_json(hints[item.name], data)
            elif item.name in data:
                values[item.name] = from_json(hints[item.name], data[item.name])
        return kind(**values)
    if kind is float:
        return _number(data)
    if kind is int:
        return int(data)
    return data


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
