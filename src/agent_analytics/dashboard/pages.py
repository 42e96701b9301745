"""The dashboard's HTML: every value from the database is escaped (html.escape for the markup; the
charts' data travels as JSON in a non-executed script element, with <, > and & escaped so that no
value can close it). The charts are plotly figures (data and layout) built here and drawn by
static/dashboard.js, the page's only code."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from html import escape
from urllib.parse import urlencode

from agent_analytics.dashboard.queries import PERIOD_KEYS, Caller, Dashboard, Workspace

# (element id, heading, what the chart shows)
CHARTS = [
    ("active-users", "Active users", "distinct users active on the day, in the 7 and in the 30 days to it (last 90 days)"),
    ("retention", "Retention", "percent of each cohort of new users active N weeks (or days, while no week is "
     "complete) after it"),
    ("leaderboard", "Agent leaderboard", "the ten agents with most runs in the last 30 days"),
    ("cost-by-model", "Cost by model", "credits consumed per day and model (last 30 days)"),
    ("errors", "Errors", "failed runs and error events per day and type (last 30 days)"),
    ("latency", "Latency", "API response time per hour, mean and p95 (last 7 days)"),
]


def index_page(caller: Caller, spaces: list[Workspace], plotly_url: str) -> str:
    """`/`: what the caller may open."""
    if caller.is_member:
        intro = (f"<p>Acting as <strong>{escape(caller.email or '')}</strong>: the workspaces this member "
                 "reads through row-level security.</p>")
        rows = [(_link(f"/workspace/{space.id}", caller, space.name), escape(space.plan), escape(space.detail or ""))
                for space in spaces]
        table = _table(("workspace", "plan", "role"), rows)
    else:
        intro = ("<p>As <strong>service_role</strong> (the platform's operator): "
                 f"{_link('/platform', caller, 'the platform view')}, or a workspace as service_role, "
                 "or as one of its owners (through row-level security, as the app reads).</p>")
        rows = [(_link(f"/workspace/{space.id}", caller, space.name), escape(space.plan),
                 _link("/", Caller("authenticated", email=space.detail), f"as {space.detail}") if space.detail else "")
                for space in spaces]
        table = _table(("workspace", "plan", "open as its owner"), rows)
    empty = "" if spaces else "<p class=\"empty\">nothing to open</p>"
    return _document("agent-analytics dashboard", caller, intro + table + empty, {}, plotly_url)


def dashboard_page(caller: Caller, page: Dashboard, plotly_url: str) -> str:
    """A workspace's page or the platform's: the charts, the leaderboard and the open alerts."""
    who = (f"acting as <strong>{escape(caller.email or '')}</strong> (authenticated, through row-level security)"
           if caller.is_member else "as <strong>service_role</strong>")
    cards = "".join(
        f'<section class="card"><h2>{escape(heading)}</h2><p class="what">{escape(what)}</p>'
        f'<div class="chart" id="chart-{name}"></div></section>'
        for name, heading, what in CHARTS
    )
    agents = _table(
        ("", "agent", "workspace", "runs (30 d)", "success %", "credits (30 d)", "last run"),
        [(f"{rank}.", escape(agent.name), escape(agent.workspace), f"{agent.runs:,}", _fixed(agent.success_rate), _fixed(agent.credits),
          escape(_moment(agent.last_run_at))) for rank, agent in enumerate(page.agents, 1)],
        table_id="agents",
    )
    alerts = _table(
        ("rule", "workspace", "triggered", "value", "threshold", "notifications"),
        [(escape(alert.rule), escape(alert.workspace), escape(_moment(alert.triggered_at)),
          _fixed(alert.metric_value), _fixed(alert.threshold_value), escape(alert.notification_status))
         for alert in page.alerts],
        table_id="alerts",
    )
    body = (
        f"<p>{escape(page.title)}, {who}.</p>"
        f'<div class="grid">{cards}</div>'
        f'<section class="card wide"><h2>Agent leaderboard</h2>{agents}</section>'
        f'<section class="card wide"><h2>Open alerts ({len(page.alerts)})</h2>{alerts or ""}'
        + ("" if page.alerts else '<p class="empty">no open alerts</p>') + "</section>"
    )
    return _document(page.title, caller, body, figures(page), plotly_url)


def error_page(status: int, message: str, caller: Caller | None = None) -> str:
    return _document(f"{status}", caller, f'<p class="error">{escape(message)}</p>', {}, None)


def figures(page: Dashboard) -> dict[str, dict]:
    """The plotly figures of a page, by chart id."""
    days = [_iso(day.day) for day in page.days]
    models = sorted({model for day in page.days for model in day.credits_by_model})
    kinds = sorted({kind for day in page.days for kind in day.errors_by_type})
    hours = [_iso(hour.hour) for hour in page.hours]
    # ranked labels: two agents of one name stay two bars; plotly draws the first bar at the bottom
    # (labels escaped: plotly reads <b>, <a href> ... in them as markup, and shows entities as text)
    ranked = [(escape(f"{rank}. {agent.name}" + (f" ({agent.workspace})" if page.workspace_id is None else "")),
               agent.runs)
              for rank, agent in enumerate(page.agents, 1)][::-1]
    keys = PERIOD_KEYS[page.cohort_period]
    return {
        "active-users": _figure([
            _line([_iso(row.day) for row in page.active_users], [row.daily for row in page.active_users], "daily"),
            _line([_iso(row.day) for row in page.active_users], [row.weekly for row in page.active_users], "weekly"),
            _line([_iso(row.day) for row in page.active_users], [row.monthly for row in page.active_users], "monthly"),
        ] if page.active_users else [], yaxis={"title": {"text": "users"}, "rangemode": "tozero"}),
        "retention": _figure([{
            "type": "heatmap", "x": [key.replace("_", " ") for key in keys],
            "y": [_iso(cohort.cohort_date) for cohort in page.cohorts],
            "z": [[cohort.retention.get(key) for key in keys] for cohort in page.cohorts],
            "colorscale": "Blues", "reversescale": True, "zmin": 0, "zmax": 100, "hoverongaps": False,
            "colorbar": {"title": {"text": "%"}},
        }] if page.cohorts else [], yaxis={"type": "category", "automargin": True,
                                                "title": {"text": f"{page.cohort_period} cohort"}}),
        "leaderboard": _figure([{
            "type": "bar", "orientation": "h", "x": [runs for _, runs in ranked],
            "y": [label for label, _ in ranked], "name": "runs",
        }] if any(runs for _, runs in ranked) else [], xaxis={"title": {"text": "runs (30 d)"}},
            yaxis={"automargin": True}),
        "cost-by-model": _figure([
            {"type": "bar", "name": escape(model), "x": days, "y": [day.credits_by_model.get(model, 0.0) for day in page.days]}
            for model in models
        ], barmode="stack", yaxis={"title": {"text": "credits"}}),
        "errors": _figure([
            {"type": "bar", "name": escape(kind), "x": days, "y": [day.errors_by_type.get(kind, 0) for day in page.days]}
            for kind in kinds
        ], barmode="stack", yaxis={"title": {"text": "errors"}}),
        "latency": _figure([
            _line(hours, [hour.avg_response_ms for hour in page.hours], "mean"),
            _line(hours, [hour.p95_response_ms for hour in page.hours], "p95"),
        ] if any(hour.avg_response_ms is not None for hour in page.hours) else [],
            yaxis={"title": {"text": "ms"}, "rangemode": "tozero"}),
    }


def _figure(data: list[dict], **layout: object) -> dict:
    base: dict[str, object] = {
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40}, "height": 300, "legend": {"orientation": "h", "y": -0.2},
        **layout,
    }
    if not data:
        base["annotations"] = [{"text": "no data yet", "showarrow": False, "xref": "paper", "yref": "paper",
                                "x": 0.5, "y": 0.5}]
        base["xaxis"] = {"visible": False}
        base["yaxis"] = {"visible": False}
    return {"data": data, "layout": base}


def _line(x: list[str], y: list, name: str) -> dict:
    # markers too: rows exist only for hours and days with activity, so a line alone hides the gaps
    return {"type": "scatter", "mode": "lines+markers", "marker": {"size": 4}, "x": x, "y": y, "name": name}


def _document(title: str, caller: Caller | None, body: str, charts: dict[str, dict], plotly_url: str | None) -> str:
    home = _link("/", caller, "agent-analytics dashboard") if caller else '<a href="/">agent-analytics dashboard</a>'
    scripts = ""
    if charts and plotly_url:
        scripts = (f'<script src="{escape(plotly_url)}" defer></script>'
                   '<script src="/static/dashboard.js" defer></script>'
                   f'<script type="application/json" id="figures">{_script_json(charts)}</script>')
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)} · agent-analytics</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no icon to fetch: the browser would ask for /favicon.ico
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/dashboard.css">{scripts}</head>'
        f"<body><header>{home}</header><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )


def _script_json(value: object) -> str:
    """JSON that cannot end its script element or open a comment: <, > and & as \\u escapes."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _link(path: str, caller: Caller | None, text: str) -> str:
    """A link that keeps acting as the member the page acts as."""
    query = f"?{urlencode({'as': caller.email})}" if caller and caller.is_member and caller.email else ""
    return f'<a href="{escape(path + query)}">{escape(text)}</a>'


def _table(headings: Iterable[str], rows: list[tuple[str, ...]], table_id: str | None = None) -> str:
    """A table of cells already escaped."""
    if not rows:
        return ""
    head = "".join(f"<th>{escape(heading)}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    attribute = f' id="{table_id}"' if table_id else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fixed(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _moment(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: date | datetime) -> str:
    """A date or a UTC time as plotly reads it (it takes no UTC offset)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()
