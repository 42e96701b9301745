"""`agent-analytics dashboard`: a process of its own on a built test database, logged in as
authenticator as PostgREST is; its pages over HTTP, then in Debian's chromium driven by
Playwright: pages render, charts hold the database's numbers, a member sees their workspaces
only, nothing is fetched from elsewhere, SIGTERM stops it with exit 0.

The browser tests skip when chromium or playwright is missing, unless
AGENT_ANALYTICS_REQUIRE_BROWSER=1 (CI), which makes them fail instead.
AGENT_ANALYTICS_DASHBOARD_SCREENSHOTS=<folder> saves the README's screenshots there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest

from agent_analytics.dashboard import DashboardError, pages, server

CHROMIUM = os.environ.get("AGENT_ANALYTICS_CHROMIUM", "/usr/bin/chromium")
TRICKY_NAME = 'Acme <b>"&\' Co'


@dataclasses.dataclass(frozen=True)
class Member:
    email: str
    workspace_id: str
    other_workspace_id: str  # a workspace they are not a member of


@pytest.fixture(scope="module")
def dashboard_db(make_database):
    """A built database of the module's own: one workspace renamed with markup in its name, and
    one open alert (a firing episode nobody acknowledged) in it."""
    project_db = make_database(seed=19)
    project_db.build(data_tests=False)
    return project_db


@pytest.fixture(scope="module")
def member(dashboard_db) -> Member:
    """An owner of exactly one workspace, with another workspace they do not belong to."""
    email, workspace_id = dashboard_db.rows(
        "select u.email, min(m.workspace_id::text) from public.users as u join public.workspace_members as m "
        "on m.user_id = u.id where m.role = 'owner' group by u.email having count(*) = 1 order by u.email limit 1")[0]
    other = dashboard_db.value(
        "select id::text from public.workspaces where id not in (select m.workspace_id from public.workspace_members "
        "as m join public.users as u on u.id = m.user_id where u.email = %s) order by id limit 1", (email,))
    with dashboard_db.connect() as conn:
        conn.execute("update public.workspaces set name = %s where id = %s", (TRICKY_NAME, workspace_id))
        rule_id = conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value) "
            "values (%s, 'Too many <errors>', 'error_rate', 'greater_than', 5) returning id", (workspace_id,)
        ).fetchone()[0]
        conn.execute("insert into analytics.alert_history (alert_rule_id, workspace_id, metric_value, threshold_value) "
                     "values (%s, %s, 12.5, 5)", (rule_id, workspace_id))
    return Member(email, workspace_id, other)


def dashboard_env(project_db) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    # PostgREST's login: every page switches from it to the caller's role
    env.update(dataclasses.replace(project_db.target, user="authenticator").env())
    env["NO_COLOR"] = "1"
    return env


@dataclasses.dataclass
class Running:
    process: subprocess.Popen
    url: str
    port: int
    stderr: Path


def start_dashboard(project_db, folder: Path) -> Running:
    stderr = folder / "dashboard.stderr"
    process = subprocess.Popen(
        [sys.executable, "-m", "agent_analytics.cli", "dashboard", "--port", "0"], env=dashboard_env(project_db),
        stdout=subprocess.PIPE, stderr=stderr.open("w"), text=True)
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        process.kill()
        raise AssertionError(f"the dashboard did not start: {line!r} {stderr.read_text()}")
    return Running(process, found.group(0), int(found.group(1)), stderr)


def stop(running: Running) -> int:
    running.process.send_signal(signal.SIGTERM)
    try:
        return running.process.wait(timeout=10)
    finally:
        running.process.kill()


@pytest.fixture(scope="module")
def dashboard(dashboard_db, member, tmp_path_factory) -> Iterator[Running]:
    running = start_dashboard(dashboard_db, tmp_path_factory.mktemp("dashboard"))
    yield running
    stop(running)
    assert "Traceback" not in running.stderr.read_text()


def get(running: Running, path: str, host: str | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(running.url.rstrip("/") + path, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def as_(email: str) -> str:
    return "?as=" + quote(email)


# -- over HTTP ---------------------------------------------------------------------------------

def test_it_listens_on_127_0_0_1_only(dashboard):
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and int(port, 16) == dashboard.port:
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, little-endian; nothing on 0.0.0.0 or ::


def test_the_operators_index_lists_the_platform_view_and_every_workspace(dashboard, dashboard_db, member):
    status, body, headers = get(dashboard, "/")
    assert status == 200
    assert 'href="/platform"' in body
    for (workspace_id,) in dashboard_db.rows("select id::text from public.workspaces"):
        assert f'href="/workspace/{workspace_id}"' in body
    owners = dashboard_db.rows("select distinct u.email from public.workspace_members as m join public.users as u "
                               "on u.id = m.user_id where m.role = 'owner'")
    links = set(re.findall(r'href="/\?as=([^"]+)"', body))
    assert links and links <= {quote(email, safe="") for (email,) in owners}  # one owner per workspace to act as
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_a_members_index_lists_their_workspaces_only(dashboard, dashboard_db, member):
    status, body, _ = get(dashboard, "/" + as_(member.email))
    assert status == 200
    assert f"/workspace/{member.workspace_id}?as=" in body
    assert "/workspace/" + member.other_workspace_id not in body
    assert 'href="/platform' not in body


def test_names_from_the_database_are_escaped(dashboard, member):
    status, body, _ = get(dashboard, f"/workspace/{member.workspace_id}{as_(member.email)}")
    assert status == 200
    assert "Acme &lt;b&gt;&quot;&amp;&#x27; Co" in body
    assert "<b>" not in body
    assert "Too many &lt;errors&gt;" in body


def test_an_unknown_email_is_a_404_page_without_a_traceback(dashboard):
    status, body, _ = get(dashboard, "/?as=" + quote("nobody<x>@example.com"))
    assert status == 404
    assert "no user has the email" in body and "nobody&lt;x&gt;@example.com" in body
    assert "Traceback" not in body


def test_a_member_cannot_open_another_workspace_or_the_platform_view(dashboard, member):
    status, body, _ = get(dashboard, f"/workspace/{member.other_workspace_id}{as_(member.email)}")
    assert status == 404
    assert "is not a member of" in body
    status, body, _ = get(dashboard, "/platform" + as_(member.email))
    assert status == 403


def test_unknown_paths_and_bad_ids_are_404s(dashboard):
    assert get(dashboard, "/workspace/not-a-uuid")[0] == 404
    assert get(dashboard, "/workspace/00000000-0000-0000-0000-000000000000")[0] == 404
    assert get(dashboard, "/nothing")[0] == 404


def test_a_request_for_another_host_name_is_refused(dashboard):
    """A web page that makes its own name resolve to 127.0.0.1 (DNS rebinding) gets nothing."""
    status, body, _ = get(dashboard, "/", host=f"attacker.example:{dashboard.port}")
    assert status == 421
    assert "/workspace/" not in body


def test_plotly_is_served_by_the_dashboard_itself(dashboard):
    status, body, _ = get(dashboard, "/")
    status, page, _ = get(dashboard, "/platform")
    script = re.search(r'src="(/static/plotly-[^"]+\.min\.js)"', page).group(1)
    status, bundle, headers = get(dashboard, script)
    assert status == 200 and len(bundle) > 1_000_000 and "immutable" in headers["Cache-Control"]
    assert "https://" not in re.sub(r"<a [^>]*>", "", page)  # nothing on the page comes from elsewhere


def test_sigterm_stops_the_server_with_exit_0(dashboard_db, member, tmp_path):
    running = start_dashboard(dashboard_db, tmp_path)
    assert get(running, "/")[0] == 200
    assert stop(running) == 0
    assert "Traceback" not in running.stderr.read_text()


def test_a_missing_plotly_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # what an install without [dashboard] has
    with pytest.raises(DashboardError, match=re.escape("pip install 'agent-analytics[dashboard]'")):
        server.static_assets()


def test_figure_data_cannot_close_its_script_element():
    text = pages._script_json({"name": "</script><script>alert(1)</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>&"}


# -- in the browser ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright (which downloads no browser of its own here)."""
    reasons = []
    if not Path(CHROMIUM).exists():
        reasons.append(f"no {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reasons.append("no playwright (pip install playwright)")
    if reasons:
        if os.environ.get("AGENT_ANALYTICS_REQUIRE_BROWSER") == "1":
            pytest.fail("; ".join(reasons) + ", and this run must run the browser tests")
        pytest.skip("; ".join(reasons))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclasses.dataclass
class Opened:
    charts: dict[str, list[dict]]  # chart id -> plotly's traces as drawn
    text: str
    requests: list[str]
    console_errors: list[str]
    seconds: float
    page: object


@pytest.fixture
def open_page(browser, dashboard):
    contexts = []

    def open_(path: str, screenshot: str | None = None) -> Opened:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        started = time.monotonic()
        response = page.goto(dashboard.url.rstrip("/") + path)
        assert response.status == 200, response.text()
        if "figures" in page.content():
            page.wait_for_selector("body[data-charts-drawn]", timeout=20_000)
        seconds = time.monotonic() - started
        charts = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.chart')].map(element => "
            "[element.id.replace('chart-', ''), (element.data || []).map(trace => "
            "({name: trace.name || null, x: trace.x || [], y: trace.y || [], z: trace.z || null}))]))")
        folder = os.environ.get("AGENT_ANALYTICS_DASHBOARD_SCREENSHOTS")
        if folder and screenshot:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / screenshot), full_page=True)
        return Opened(charts, page.inner_text("body"), requests, errors, seconds, page)

    yield open_
    for context in contexts:
        context.close()


def assert_offline_and_clean(opened: Opened, dashboard: Running) -> None:
    assert all(url.startswith(dashboard.url) for url in opened.requests), opened.requests
    assert opened.console_errors == []


def test_the_platform_page_draws_every_chart_with_the_databases_numbers(open_page, dashboard, dashboard_db):
    opened = open_page("/platform", "platform.png")
    assert_offline_and_clean(opened, dashboard)
    assert set(opened.charts) == {"active-users", "retention", "leaderboard", "cost-by-model", "errors", "latency"}
    for name, traces in opened.charts.items():
        assert traces and any(trace["y"] for trace in traces), f"{name} has no data"
    expected = dashboard_db.rows(
        "select activity_date, daily_active_users, monthly_active_users from analytics.mv_active_users "
        "where workspace_id is null and activity_date > (now() at time zone 'UTC')::date - 90 order by 1")
    daily, weekly, monthly = opened.charts["active-users"]
    assert [date.fromisoformat(day) for day in daily["x"]] == [row[0] for row in expected]
    assert daily["y"] == [row[1] for row in expected] and monthly["y"] == [row[2] for row in expected]
    credits = dict(dashboard_db.rows(
        "select metric_date, total_credits_consumed from analytics.daily_metrics "
        "where workspace_id is null and metric_date > (now() at time zone 'UTC')::date - 30"))
    drawn = {}
    for trace in opened.charts["cost-by-model"]:
        for day, value in zip(trace["x"], trace["y"]):
            drawn[date.fromisoformat(day)] = drawn.get(date.fromisoformat(day), 0) + value
    assert drawn.keys() == credits.keys()
    assert all(abs(drawn[day] - float(credits[day])) < 0.01 for day in credits)
    assert "Too many <errors>" in opened.text  # the operator sees every workspace's open alerts
    (bars,) = opened.charts["leaderboard"]
    agents = dashboard_db.value("select count(*) from analytics.mv_top_agents")
    assert len(bars["y"]) == len(set(bars["y"])) == min(agents, 10)  # one bar per agent, names repeat across workspaces


def test_a_members_page_shows_their_workspace_only_with_its_numbers(open_page, dashboard, dashboard_db, member):
    opened = open_page(f"/workspace/{member.workspace_id}{as_(member.email)}", "workspace.png")
    assert_offline_and_clean(opened, dashboard)
    assert TRICKY_NAME in opened.text and member.email in opened.text
    others = [name for (name,) in dashboard_db.rows("select name from public.workspaces where id <> %s",
                                                    (member.workspace_id,))]
    assert not [name for name in others if name in opened.text]
    expected = dashboard_db.rows(
        "select activity_date, daily_active_users, weekly_active_users from analytics.mv_active_users "
        "where workspace_id = %s and activity_date > (now() at time zone 'UTC')::date - 90 order by 1",
        (member.workspace_id,))
    daily, weekly, _ = opened.charts["active-users"]
    assert [date.fromisoformat(day) for day in daily["x"]] == [row[0] for row in expected]
    assert daily["y"] == [row[1] for row in expected] and weekly["y"] == [row[2] for row in expected]
    agents = [name for (name,) in dashboard_db.rows(
        "select agent_name from analytics.mv_top_agents where workspace_id = %s "
        "order by total_runs_30d desc, agent_id limit 10", (member.workspace_id,))]
    table = opened.page.eval_on_selector_all("#agents tbody tr td:nth-child(2)", "cells => cells.map(c => c.textContent)")
    assert table == agents
    errors = sum(sum(trace["y"]) for trace in opened.charts["errors"])
    assert errors == dashboard_db.value(
        "select coalesce(sum(total_errors), 0) from analytics.daily_metrics "
        "where workspace_id = %s and metric_date > (now() at time zone 'UTC')::date - 30", (member.workspace_id,))
    assert "Too many <errors>" in opened.text and "Open alerts (1)" in opened.text
    # a week of data has no complete cohort week: the heatmap shows the daily cohorts' day_1 ... day_30
    (heatmap,) = opened.charts["retention"]
    expected = dashboard_db.rows(
        "select cohort_date, retention_data from analytics.user_cohorts where workspace_id = %s "
        "and cohort_period = 'daily' order by cohort_date desc limit 14", (member.workspace_id,))[::-1]
    assert [date.fromisoformat(day) for day in heatmap["y"]] == [row[0] for row in expected]
    assert [[value for value in row if value is not None] for row in heatmap["z"]] == \
        [[float(row[1][key]) for key in ("day_1", "day_7", "day_14", "day_30") if key in row[1]] for row in expected]
    assert any(value is not None for row in heatmap["z"] for value in row)


def test_a_member_follows_links_to_their_workspace_only(open_page, dashboard, member):
    opened = open_page("/" + as_(member.email), "index.png")
    links = opened.page.eval_on_selector_all("main a", "links => links.map(a => a.getAttribute('href'))")
    assert links == [f"/workspace/{member.workspace_id}?as={quote(member.email, safe='')}"]
    refused = opened.page.goto(dashboard.url.rstrip("/") + f"/workspace/{member.other_workspace_id}"
                               + as_(member.email))
    assert refused.status == 404
    assert "is not a member of" in opened.page.inner_text("body")


def test_a_page_draws_within_seconds(open_page, member):
    """A loose bound (CI runs three test sessions side by side on two cores); README gives timings."""
    opened = open_page(f"/workspace/{member.workspace_id}{as_(member.email)}")
    assert opened.seconds < 15


def test_chart_labels_are_escaped_for_plotly_which_reads_markup_in_them():
    from datetime import UTC, datetime

    from agent_analytics.dashboard import queries

    page = queries.Dashboard(
        title="x", workspace_id=None,
        agents=[queries.Agent('<a href="https://evil.example">A</a>', "<b>W</b>", 3, None, 1.0, None)],
        days=[queries.Day(date(2026, 1, 1), 1, 1.0, {"<i>m</i>": 1.0}, 1, None, {"<b>t</b>": 1})],
        hours=[queries.Hour(datetime(2026, 1, 1, tzinfo=UTC), 1.0, 2.0)],
    )
    drawn = pages.figures(page)
    labels = [*drawn["leaderboard"]["data"][0]["y"], drawn["cost-by-model"]["data"][0]["name"],
              drawn["errors"]["data"][0]["name"]]
    assert labels == ["1. &lt;a href=&quot;https://evil.example&quot;&gt;A&lt;/a&gt; (&lt;b&gt;W&lt;/b&gt;)",
                      "&lt;i&gt;m&lt;/i&gt;", "&lt;b&gt;t&lt;/b&gt;"]
