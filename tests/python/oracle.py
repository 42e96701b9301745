"""Every metric of docs/metrics.md computed in plain Python from the raw rows.

Written from the definitions, not from the SQL, so that the two can disagree. Numbers are
Decimals rounded as PostgreSQL's round() does (halves away from zero); percentiles are
percentile_cont, which PostgreSQL computes in double precision.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

PLATFORM = None
FINISHED = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Raw:
    events: list[dict]
    runs: list[dict]
    users: list[dict]
    members: list[dict]
    agents: list[dict]
    workspaces: list[dict]


def load(conn) -> Raw:
    def rows(query: str) -> list[dict]:
        cursor = conn.execute(query)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    return Raw(
        # an event whose time cannot be believed is left out of every rollup (plausible_time)
        events=[event for event in rows("select * from analytics.user_activity") if plausible_time(event)],
        runs=rows("select * from public.agent_runs"),
        users=rows("select * from public.users"),
        members=rows("select * from public.workspace_members"),
        agents=rows("select * from public.agents"),
        workspaces=rows("select * from public.workspaces"),
    )


# ---- arithmetic as PostgreSQL does it ------------------------------------------------------

def rounded(value: Decimal | float | int | None, places: int = 2) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        value = Decimal(format(value, ".15g"))  # float8 -> numeric keeps 15 significant digits
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def whole(value: Decimal | float | None) -> int | None:
    result = rounded(value, 0)
    return None if result is None else int(result)


def mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


def percentile_cont(values: list, fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(float(v) for v in values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


def percent(part: int, whole_count: int) -> Decimal | None:
    return None if whole_count == 0 else rounded(Decimal(100) * part / whole_count)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def utc_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def scopes(workspace_id) -> list:
    """A fact counts for its workspace (if any) and for the platform row."""
    return [workspace_id, PLATFORM] if workspace_id is not None else [PLATFORM]


def seconds(delta: timedelta) -> Decimal:
    return Decimal(delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) / 1_000_000


# ---- shared grains -----------------------------------------------------------------------

def activity_days(raw: Raw) -> dict[tuple, set]:
    """(day, scope) -> users active (an event, or a started run)."""
    active: dict[tuple, set] = defaultdict(set)
    for event in raw.events:
        for scope in scopes(event["workspace_id"]):
            active[(utc_day(event["created_at"]), scope)].add(event["user_id"])
    for run in raw.runs:
        for scope in scopes(run["workspace_id"]):
            active[(utc_day(run["started_at"]), scope)].add(run["user_id"])
    return active


def first_seen(active: dict[tuple, set]) -> dict[tuple, date]:
    seen: dict[tuple, date] = {}
    for (day, scope), users in active.items():
        for user in users:
            key = (scope, user)
            if key not in seen or day < seen[key]:
                seen[key] = day
    return seen


def sessions(raw: Raw) -> list[dict]:
    grouped: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for event in raw.events:
        if event["session_id"] is not None:
            grouped[event["session_id"]].append(event)
    result = []
    for session_id, events in grouped.items():
        events.sort(key=lambda e: (e["created_at"], e["id"]))
        # the user of its first event's, with their events only
        events = [e for e in events if e["user_id"] == events[0]["user_id"]]
        workspace = next((e["workspace_id"] for e in events if e["workspace_id"] is not None), None)
        result.append({
            "session_id": session_id,
            "workspace_id": workspace,
            "start": events[0]["created_at"],
            "duration": seconds(events[-1]["created_at"] - events[0]["created_at"]),
            "has_page_view": any(e["event_type"] == "page_view" for e in events),
            "bounced": len(events) == 1 and events[0]["event_type"] == "page_view",
        })
    return result


MAX_RESPONSE_TIME_MS = Decimal(86_400_000)
MAX_RUNTIME_SECONDS = Decimal(31_536_000)
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}")


def response_time(event: dict) -> Decimal | None:
    """A number of milliseconds from 0 to a day; anything else is not a measurement."""
    value = (event["metadata"] or {}).get("response_time_ms") if isinstance(event["metadata"], dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    value = Decimal(str(value))
    return value if 0 <= value <= MAX_RESPONSE_TIME_MS else None


def bounded_label(value: object) -> str:
    """An error type as a JSON key: a short identifier as it is, anything else `other`."""
    text = value.strip(" ") if isinstance(value, str) else ""  # btrim() trims spaces only
    if not text:
        return "unknown"
    return text if LABEL.fullmatch(text) else "other"


def error_type_of_event(event: dict) -> str:
    metadata = event["metadata"] if isinstance(event["metadata"], dict) else {}
    return bounded_label(metadata.get("error_type"))


def error_type_of_run(run: dict) -> str:
    return bounded_label(run["error_type"])


def runtime(run: dict) -> Decimal | None:
    value = run["runtime_seconds"]
    return value if value is not None and 0 <= value <= MAX_RUNTIME_SECONDS else None


def plausible_time(event: dict) -> bool:
    arrived = event["ingested_at"]
    return arrived - timedelta(days=1000) <= event["created_at"] <= arrived + timedelta(days=1)


def runtime_stats(runs: list[dict], fractions: dict[str, float]) -> dict:
    runtimes = [runtime(r) for r in runs if runtime(r) is not None]
    stats = {name: rounded(percentile_cont(runtimes, fraction)) for name, fraction in fractions.items()}
    stats["avg"] = rounded(mean(runtimes))
    stats["min"] = rounded(min(runtimes)) if runtimes else None
    stats["max"] = rounded(max(runtimes)) if runtimes else None
    return stats


# ---- the tables --------------------------------------------------------------------------

def daily_metrics(raw: Raw) -> dict[tuple, dict]:
    active = activity_days(raw)
    seen = first_seen(active)
    agent_names = {a["id"]: a["name"] for a in raw.agents}
    runs_by: dict[tuple, list[dict]] = defaultdict(list)
    for run in raw.runs:
        for scope in scopes(run["workspace_id"]):
            runs_by[(utc_day(run["started_at"]), scope)].append(run)
    sessions_by: dict[tuple, list[dict]] = defaultdict(list)
    for session in sessions(raw):
        for scope in scopes(session["workspace_id"]):
            sessions_by[(utc_day(session["start"]), scope)].append(session)
    errors_by: dict[tuple, list[str]] = defaultdict(list)
    for event in raw.events:
        if event["event_type"] == "error":
            for scope in scopes(event["workspace_id"]):
                errors_by[(utc_day(event["created_at"]), scope)].append(error_type_of_event(event))

    result = {}
    for key in set(active) | set(sessions_by):
        day, scope = key
        users = active.get(key, set())
        runs = runs_by.get(key, [])
        day_sessions = sessions_by.get(key, [])
        failed = [r for r in runs if r["status"] == "failed"]
        credits = sum((r["credits_consumed"] for r in runs), Decimal(0))
        by_model: dict[str, Decimal] = defaultdict(Decimal)
        per_agent: dict[uuid.UUID, list[dict]] = defaultdict(list)
        for run in runs:
            by_model[run["model"]] += run["credits_consumed"]
            per_agent[run["agent_id"]].append(run)
        ranked = sorted(per_agent.items(), key=lambda item: (-len(item[1]), item[0]))[:5]
        error_counts: dict[str, int] = defaultdict(int)
        for kind in [error_type_of_run(r) for r in failed] + errors_by.get(key, []):
            error_counts[kind] += 1
        stats = runtime_stats(runs, {"median": 0.5, "p95": 0.95, "p99": 0.99})
        if scope is PLATFORM:
            total_users = sum(1 for u in raw.users if u["created_at"] < day_end(day))
        else:
            total_users = sum(1 for m in raw.members if m["workspace_id"] == scope and m["joined_at"] < day_end(day))
        new = sum(1 for u in users if seen[(scope, u)] == day)
        with_page_views = [s for s in day_sessions if s["has_page_view"]]
        result[key] = {
            "total_users": total_users,
            "active_users": len(users),
            "new_users": new,
            "returning_users": len(users) - new,
            "total_sessions": len(day_sessions),
            "avg_session_duration_seconds": rounded(mean([s["duration"] for s in day_sessions])),
            "bounce_rate": percent(sum(s["bounced"] for s in with_page_views), len(with_page_views)),
            "total_runs": len(runs),
            "successful_runs": sum(r["status"] == "completed" for r in runs),
            "failed_runs": len(failed),
            "cancelled_runs": sum(r["status"] == "cancelled" for r in runs),
            "avg_runtime_seconds": stats["avg"],
            "median_runtime_seconds": stats["median"],
            "p95_runtime_seconds": stats["p95"],
            "p99_runtime_seconds": stats["p99"],
            "total_credits_consumed": rounded(credits),
            "avg_credits_per_run": rounded(credits / len(runs)) if runs else None,
            "credits_by_model": dict(by_model),
            "unique_agents_run": len(per_agent),
            "top_agents": [
                {"agent_id": str(agent), "agent_name": agent_names.get(agent), "runs": len(agent_runs),
                 "credits": sum((r["credits_consumed"] for r in agent_runs), Decimal(0))}
                for agent, agent_runs in ranked
            ],
            "total_errors": sum(error_counts.values()),
            "error_rate": percent(len(failed), len(runs)),
            "errors_by_type": dict(error_counts),
        }
    return result


def hourly_metrics(raw: Raw, today: date, retention_days: int = 30) -> dict[tuple, dict]:
    """Hours from the UTC day retention_days before today on: the retention drops older ones."""
    horizon = datetime.combine(today - timedelta(days=retention_days), datetime.min.time(), tzinfo=UTC)
    active: dict[tuple, set] = defaultdict(set)
    runs_by: dict[tuple, list[dict]] = defaultdict(list)
    calls_by: dict[tuple, list[Decimal]] = defaultdict(list)
    for event in raw.events:
        for scope in scopes(event["workspace_id"]):
            key = (utc_hour(event["created_at"]), scope)
            active[key].add(event["user_id"])
            if event["event_type"] == "api_call":
                value = response_time(event)
                if value is not None:
                    calls_by[key].append(value)
    for run in raw.runs:
        for scope in scopes(run["workspace_id"]):
            key = (utc_hour(run["started_at"]), scope)
            active[key].add(run["user_id"])
            runs_by[key].append(run)
    result = {}
    for key, users in active.items():
        if key[0] < horizon:
            continue
        runs = runs_by.get(key, [])
        calls = calls_by.get(key, [])
        result[key] = {
            "active_users": len(users),
            "total_runs": len(runs),
            "successful_runs": sum(r["status"] == "completed" for r in runs),
            "failed_runs": sum(r["status"] == "failed" for r in runs),
            "total_credits": rounded(sum((r["credits_consumed"] for r in runs), Decimal(0))),
            "avg_response_time_ms": whole(mean(calls)),
            "p95_response_time_ms": whole(percentile_cont(calls, 0.95)),
        }
    return result


def agent_performance(raw: Raw) -> dict[tuple, dict]:
    workspace_of = {a["id"]: a["workspace_id"] for a in raw.agents}
    runs_by: dict[tuple, list[dict]] = defaultdict(list)
    for run in raw.runs:
        runs_by[(run["agent_id"], utc_day(run["started_at"]))].append(run)
    result = {}
    for key, runs in runs_by.items():
        failed = [r for r in runs if r["status"] == "failed"]
        credits = sum((r["credits_consumed"] for r in runs), Decimal(0))
        tokens = sum(r["tokens_used"] for r in runs)
        ratings = [Decimal(r["user_rating"]) for r in runs if r["user_rating"] is not None]
        error_types: dict[str, int] = defaultdict(int)
        for run in failed:
            error_types[error_type_of_run(run)] += 1
        reasons: dict[str, int] = defaultdict(int)
        for run in failed:
            if run["error_message"] is not None:
                reasons[run["error_message"]] += 1
        stats = runtime_stats(runs, {"p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99})
        result[key] = {
            "workspace_id": workspace_of[key[0]],
            "total_runs": len(runs),
            "successful_runs": sum(r["status"] == "completed" for r in runs),
            "failed_runs": len(failed),
            "cancelled_runs": sum(r["status"] == "cancelled" for r in runs),
            **{f"{name}_runtime_seconds": stats[name] for name in ("avg", "min", "max", "p50", "p75", "p95", "p99")},
            "total_credits": rounded(credits),
            "avg_credits_per_run": rounded(credits / len(runs)),
            "total_tokens_used": tokens,
            "avg_tokens_per_run": whole(Decimal(tokens) / len(runs)),
            "unique_users": len({r["user_id"] for r in runs}),
            "avg_user_rating": rounded(mean(ratings)),
            "total_feedback_count": sum(r["user_rating"] is not None or r["feedback"] is not None for r in runs),
            "error_types": dict(error_types),
            "common_failure_reasons": [
                {"reason": reason, "count": count}
                for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:5]
            ],
        }
    return result


RETENTION_KEYS = {
    "daily": [("day_1", 1), ("day_7", 7), ("day_14", 14), ("day_30", 30)],
    "weekly": [(f"week_{n}", n) for n in range(1, 13)],
    "monthly": [(f"month_{n}", n) for n in range(1, 7)],
}


def _period_start(period: str, day: date) -> date:
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _shift(period: str, start: date, n: int) -> tuple[date, date]:
    """First and last day of the nth period after the one starting at `start`."""
    if period == "daily":
        return start + timedelta(days=n), start + timedelta(days=n)
    if period == "weekly":
        first = start + timedelta(days=7 * n)
        return first, first + timedelta(days=6)
    month = start.month - 1 + n
    first = date(start.year + month // 12, month % 12 + 1, 1)
    following = date(first.year + (first.month // 12), first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def user_cohorts(raw: Raw, today: date, credit_price: Decimal = Decimal("0.01")) -> dict[tuple, dict]:
    active = activity_days(raw)
    seen = {key: day for key, day in first_seen(active).items() if day <= today}
    active_days: dict[tuple, set] = defaultdict(set)  # (scope, user) -> days active
    for (day, scope), users in active.items():
        if day <= today:
            for user in users:
                active_days[(scope, user)].add(day)
    credits: dict[tuple, Decimal] = defaultdict(Decimal)
    for run in raw.runs:
        if utc_day(run["started_at"]) <= today:
            for scope in scopes(run["workspace_id"]):
                credits[(scope, run["user_id"])] += run["credits_consumed"]
    members: dict[tuple, list] = defaultdict(list)
    for (scope, user), day in seen.items():
        for period in RETENTION_KEYS:
            members[(period, _period_start(period, day), scope)].append(user)
    result = {}
    for (period, cohort_date, scope), users in members.items():
        size = len(users)
        retention = {}
        for name, n in RETENTION_KEYS[period]:
            first, last = _shift(period, cohort_date, n)
            if last <= today:
                returned = sum(
                    1 for u in users if any(first <= d <= last for d in active_days[(scope, u)])
                )
                retention[name] = rounded(Decimal(100) * returned / size)
        revenue = sum((credits[(scope, u)] for u in users), Decimal(0)) * credit_price
        arpu = revenue / size
        age = (today - cohort_date).days
        churn = None
        if age >= 30:
            quiet = sum(
                1 for u in users if not any(today - timedelta(days=29) <= d <= today for d in active_days[(scope, u)])
            )
            churn = Decimal(100) * quiet / size
        lifetime = Decimal(36) if not churn else min(Decimal(36), Decimal(100) / churn)
        monthly = arpu / max(Decimal(1), Decimal(age) / Decimal(30))
        result[(period, cohort_date, scope)] = {
            "initial_users": size,
            "retention_data": retention,
            "ltv_estimate": rounded(monthly * lifetime),
            "avg_revenue_per_user": rounded(arpu),
            "churn_rate": rounded(churn),
        }
    return result


def mv_active_users(raw: Raw, today: date, days_back: int | None = 90) -> dict[tuple, dict]:
    """days_back None: from the first active day on (active_users_daily)."""
    active = activity_days(raw)
    per_scope_days: dict = defaultdict(lambda: defaultdict(set))  # scope -> day -> users
    for (day, scope), users in active.items():
        per_scope_days[scope][day] |= users
    if days_back is None:
        days_back = (today - min(day for day, _ in active)).days + 1 if active else 0
    result = {}
    for scope, days in per_scope_days.items():
        for offset in range(days_back):
            day = today - timedelta(days=days_back - 1 - offset)
            monthly = _users_within(days, day, 30)
            if monthly:
                result[(day, scope)] = {
                    "daily_active_users": len(days.get(day, set())),
                    "weekly_active_users": len(_users_within(days, day, 7)),
                    "monthly_active_users": len(monthly),
                }
    return result


def _users_within(days: dict[date, set], day: date, span: int) -> set:
    """The users active in the `span` days ending with `day`."""
    found: set = set()
    for back in range(span):
        found |= days.get(day - timedelta(days=back), set())
    return found


def _in_last_30_days(moment: datetime, today: date) -> bool:
    """The 30 UTC days ending today (data of later days, which appends can make, excluded)."""
    return today - timedelta(days=29) <= utc_day(moment) <= today


def mv_top_agents(raw: Raw, today: date) -> dict[uuid.UUID, dict]:
    recent: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for run in raw.runs:
        if _in_last_30_days(run["started_at"], today):
            recent[run["agent_id"]].append(run)
    result = {}
    for agent in raw.agents:
        runs = recent.get(agent["id"], [])
        runtimes = [runtime(r) for r in runs if runtime(r) is not None]
        completed = sum(r["status"] == "completed" for r in runs)
        result[agent["id"]] = {
            "agent_name": agent["name"],
            "workspace_id": agent["workspace_id"],
            "total_runs_30d": len(runs),
            "successful_runs_30d": completed,
            "success_rate": percent(completed, len(runs)),
            "avg_runtime": mean(runtimes),
            "median_runtime": percentile_cont(runtimes, 0.5),
            "total_credits_30d": sum((r["credits_consumed"] for r in runs), Decimal(0)),
            "unique_users_30d": len({r["user_id"] for r in runs}),
            "last_run_at": max((r["started_at"] for r in runs), default=None),
        }
    return result


def mv_workspace_summary(raw: Raw, today: date) -> dict[uuid.UUID, dict]:
    active = activity_days(raw)
    result = {}
    for workspace in raw.workspaces:
        wid = workspace["id"]
        runs = [r for r in raw.runs if r["workspace_id"] == wid and _in_last_30_days(r["started_at"], today)]
        runtimes = [runtime(r) for r in runs if runtime(r) is not None]
        users: set = set()
        for (day, scope), day_users in active.items():
            if scope == wid and today - timedelta(days=29) <= day <= today:
                users |= day_users
        result[wid] = {
            "workspace_name": workspace["name"],
            "total_members": sum(m["workspace_id"] == wid for m in raw.members),
            "total_agents": sum(a["workspace_id"] == wid for a in raw.agents),
            "total_runs_30d": len(runs),
            "total_credits_30d": sum((r["credits_consumed"] for r in runs), Decimal(0)),
            "avg_runtime_30d": mean(runtimes),
            "active_users_30d": len(users),
        }
    return result


def model_usage_daily(raw: Raw) -> dict[tuple, dict]:
    """Keyed (metric_date, workspace_id, model)."""
    runs_by: dict[tuple, list[dict]] = defaultdict(list)
    for run in raw.runs:
        for scope in scopes(run["workspace_id"]):
            runs_by[(utc_day(run["started_at"]), scope, run["model"])].append(run)
    result = {}
    for key, runs in runs_by.items():
        stats = runtime_stats(runs, {"median": 0.5, "p95": 0.95})
        successful = sum(r["status"] == "completed" for r in runs)
        result[key] = {
            "total_runs": len(runs),
            "successful_runs": successful,
            "failed_runs": sum(r["status"] == "failed" for r in runs),
            "success_rate": percent(successful, len(runs)),
            "avg_runtime_seconds": stats["avg"],
            "median_runtime_seconds": stats["median"],
            "p95_runtime_seconds": stats["p95"],
            "total_tokens_used": sum(r["tokens_used"] for r in runs),
            "total_credits": rounded(sum((r["credits_consumed"] for r in runs), Decimal(0))),
        }
    return result


EVENT_NAMES_PER_DAY = 100
OTHER_EVENT_NAMES = "(other names)"


def event_usage_daily(raw: Raw, since: date) -> dict[tuple, dict]:
    """Keyed (metric_date, workspace_id, event_type, event_name), for the days from `since` on."""
    events_by: dict[tuple, list[dict]] = defaultdict(list)
    for event in raw.events:
        day = utc_day(event["created_at"])
        if day >= since:
            for scope in scopes(event["workspace_id"]):
                events_by[(day, scope, event["event_type"], event["event_name"])].append(event)
    # a day, scope and type keeps its first EVENT_NAMES_PER_DAY names (no name first, then by
    # users, events and name; a real name equal to the label last); the rest count as one
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for key, events in events_by.items():
        groups[key[:3]].append((key[3], events))
    result: dict[tuple, dict] = {}
    for group, names in groups.items():
        names.sort(key=lambda item: (0 if item[0] is None else 2 if item[0] == OTHER_EVENT_NAMES else 1,
                                     -len({e["user_id"] for e in item[1]}), -len(item[1]), item[0] or ""))
        for name, events in names[:EVENT_NAMES_PER_DAY]:
            result[(*group, name)] = {"events": len(events), "users": len({e["user_id"] for e in events})}
        folded = [event for _, events in names[EVENT_NAMES_PER_DAY:] for event in events]
        if folded:
            result[(*group, OTHER_EVENT_NAMES)] = {"events": len(folded), "users": len({e["user_id"] for e in folded})}
    return result


def activation_funnel(raw: Raw, today: date) -> dict[tuple, dict]:
    """Keyed (cohort_period, cohort_date, workspace_id): a workspace's members by the day they
    joined, the platform's users by the day they signed up, as of `today`."""
    active: dict[tuple, set] = defaultdict(set)  # (scope, user) -> days active
    for (day, scope), users in activity_days(raw).items():
        for user in users:
            active[(scope, user)].add(day)
    makers = {(scope, agent["created_by"]) for agent in raw.agents if agent["created_by"] is not None
              for scope in scopes(agent["workspace_id"])}
    first_run: dict[tuple, datetime] = {}
    for run in raw.runs:
        if utc_day(run["started_at"]) <= today:
            for scope in scopes(run["workspace_id"]):
                key = (scope, run["user_id"])
                first_run[key] = min(first_run.get(key, run["started_at"]), run["started_at"])
    starts = [(m["workspace_id"], m["user_id"], m["joined_at"]) for m in raw.members]
    starts += [(PLATFORM, u["id"], u["created_at"]) for u in raw.users]
    cohorts: dict[tuple, list[dict]] = defaultdict(list)
    for scope, user, started in starts:
        start_day = utc_day(started)
        if start_day > today:
            continue
        ran = first_run.get((scope, user))
        journey = {
            "created_agent": (scope, user) in makers,
            "hours": None if ran is None else max(seconds(ran - started) / 3600, Decimal(0)),
            "past_week_2": start_day + timedelta(days=13) <= today,
            "returned": any(start_day + timedelta(days=7) <= d <= start_day + timedelta(days=13)
                            for d in active[(scope, user)]),
        }
        for period in ("weekly", "monthly"):
            cohorts[(period, _period_start(period, start_day), scope)].append(journey)
    result = {}
    for key, journeys in cohorts.items():
        size = len(journeys)
        hours = [j["hours"] for j in journeys if j["hours"] is not None]
        past = [j for j in journeys if j["past_week_2"]]
        returned = sum(j["returned"] for j in past)
        result[key] = {
            "scope": "platform" if key[2] is PLATFORM else "workspace",
            "cohort_users": size,
            "created_agent_users": sum(j["created_agent"] for j in journeys),
            "created_agent_percent": percent(sum(j["created_agent"] for j in journeys), size),
            "ran_users": len(hours),
            "ran_percent": percent(len(hours), size),
            "past_week_2_users": len(past),
            "returned_week_2_users": returned,
            "returned_week_2_percent": percent(returned, len(past)),
            "median_hours_to_first_run": rounded(percentile_cont(hours, 0.5)),
            "p90_hours_to_first_run": rounded(percentile_cont(hours, 0.9)),
        }
    return result
