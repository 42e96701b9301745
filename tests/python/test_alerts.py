"""Alert rules in the database: the checks a rule passes when written, the values the one-pass
evaluation computes (against the raw rows, in Python), each rule's states and episodes, and the
acknowledge RPC under the API's roles. Delivery is test_alerts_delivery.py."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

import oracle
from conftest import ProjectDatabase, acting_as


@pytest.fixture(scope="module")
def alerting(make_database) -> ProjectDatabase:
    """A built database of this module's own: these tests write rules, runs and episodes."""
    project_db = make_database(seed=23)
    project_db.build(data_tests=False)
    return project_db


@pytest.fixture
def workspace(alerting) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A workspace with its owner and a plain member (made a member if it has none)."""
    workspace_id, owner, other = alerting.rows(
        "select o.workspace_id, o.user_id, m.user_id from public.workspace_members o "
        "join public.workspace_members m on m.workspace_id = o.workspace_id and m.user_id <> o.user_id "
        "where o.role = 'owner' order by 1 limit 1")[0]
    with alerting.connect_as("supabase_admin") as conn:
        conn.execute("update public.workspace_members set role = 'member' where workspace_id = %s and user_id = %s",
                     (workspace_id, other))
    return workspace_id, owner, other


def insert_rule(conn: psycopg.Connection, **columns) -> uuid.UUID:
    columns = {"name": "rule", "metric_type": "total_runs", "condition": "greater_than", "threshold_value": 1,
               **columns}
    for key in ("notification_channels", "notification_recipients"):
        if key in columns and not isinstance(columns[key], str):
            columns[key] = json.dumps(columns[key])
    names = ", ".join(columns)
    values = ", ".join(["%s"] * len(columns))
    return conn.execute(f"insert into analytics.alert_rules ({names}) values ({values}) returning id",
                        tuple(columns.values())).fetchone()[0]


# -- a rule is checked when written ------------------------------------------------------------

MALFORMED = {
    "unknown metric": ({"metric_type": "total_runz"}, "metric_type 'total_runz' is not in the catalogue"),
    "condition the metric has not": ({"metric_type": "no_data", "condition": "greater_than"},
                                     "condition 'greater_than' does not apply to no_data: use less_than"),
    "percent above 100": ({"metric_type": "error_rate", "threshold_value": 150},
                          "threshold_value 150.00 is out of range for error_rate (0.00 to 100.00 percent)"),
    "negative count": ({"threshold_value": -1}, "threshold_value -1.00 is out of range for total_runs"),
    "window of nothing": ({"evaluation_window_minutes": 0}, "evaluation_window_minutes must be between 1 and 1440"),
    "window beyond a day": ({"evaluation_window_minutes": 2000},
                            "evaluation_window_minutes must be between 1 and 1440 (a day), not 2000"),
    "negative pending": ({"pending_minutes": -5}, "pending_minutes must be between 0 and 1440, not -5"),
    "renotify of zero": ({"renotify_minutes": 0}, "renotify_minutes must be between 1 and 10080"),
    "recovery past the threshold": ({"threshold_value": 10, "recovery_threshold": 12},
                                    "recovery_threshold 12.00 must be on the resolving side of threshold_value 10.00 "
                                    "(at most)"),
    "recovery for equals": ({"condition": "equals", "recovery_threshold": 1}, "equals has no recovery margin"),
    "channels not a list": ({"notification_channels": '"email"'}, "notification_channels must be a JSON array"),
    "recipients not a list": ({"notification_recipients": '{"to": "a@b.io"}'},
                              "notification_recipients must be a JSON array"),
    "unknown channel": ({"notification_channels": ["sms"], "notification_recipients": ["+15550100"]},
                        "notification channel 'sms' is not one of email, slack, webhook"),
    "channel twice": ({"notification_channels": ["email", "email"], "notification_recipients": ["a@b.io"]},
                      "notification channel email is listed twice"),
    "channel without a target": ({"notification_channels": ["email", "webhook"], "notification_recipients": ["a@b.io"]},
                                 "notification channel webhook has no recipient"),
    "target without its channel": ({"notification_channels": ["email"],
                                    "notification_recipients": ["a@b.io", "https://hooks.example.com/x"]},
                                   "recipient https://hooks.example.com/x fits none of the rule's channels"),
    "not an address": ({"notification_channels": ["email"], "notification_recipients": ["ops at example.com"]},
                       "recipient 'ops at example.com' is not an email address"),
    "URL without a host": ({"notification_channels": ["webhook"], "notification_recipients": ["https:///hook"]},
                           "recipient for webhook is not an http(s) URL with a host: https:///hook"),
    "not http": ({"notification_channels": ["webhook"],
                  "notification_recipients": [{"channel": "webhook", "target": "file:///etc/passwd"}]},
                 "recipient for webhook is not an http(s) URL with a host: file:///etc/passwd"),
    "blank name": ({"name": "  "}, "name is empty"),
}


@pytest.mark.parametrize("columns, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_rule_is_refused_with_its_own_message(alerting, workspace, columns, message):
    before = alerting.value("select count(*) from analytics.alert_rules")
    with alerting.api() as conn, acting_as(conn, "service_role"):
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            insert_rule(conn, workspace_id=workspace[0], **columns)
    assert message in str(refused.value)
    assert alerting.value("select count(*) from analytics.alert_rules") == before


def test_a_change_that_breaks_a_rule_is_refused_and_the_rule_kept(alerting, workspace):
    with alerting.connect() as conn:
        rule_id = insert_rule(conn, workspace_id=workspace[0], notification_channels=["email"],
                              notification_recipients=["ops@example.com"])
        with pytest.raises(psycopg.errors.CheckViolation, match="has no recipient"):
            conn.execute("update analytics.alert_rules set notification_recipients = '[]' where id = %s", (rule_id,))
        assert conn.execute("select notification_recipients from analytics.alert_rules where id = %s",
                            (rule_id,)).fetchone() == (["ops@example.com"],)
        conn.execute("delete from analytics.alert_rules where id = %s", (rule_id,))


def test_well_formed_rules_of_every_channel_are_accepted(alerting, workspace):
    with alerting.api() as conn, acting_as(conn, "service_role"):
        insert_rule(conn, workspace_id=workspace[0], metric_type="p95_response_time_ms", threshold_value=2500,
                    evaluation_window_minutes=15, pending_minutes=5, renotify_minutes=60,
                    notification_channels=["webhook", "slack", "email"],
                    notification_recipients=["https://hooks.slack.com/services/T/B/x", "https://example.com/hook",
                                             "ops@example.com", {"channel": "webhook", "target": "https://a.io/b"}])
        insert_rule(conn, workspace_id=None, name="platform", metric_type="no_data", condition="less_than",
                    threshold_value=1)
        targets = conn.execute(
            "select t.channel, t.target from analytics.alert_rules r, "
            "analytics.alert_rule_targets(r.notification_channels, r.notification_recipients) t "
            "where r.metric_type = 'p95_response_time_ms' order by 1, 2").fetchall()
    assert targets == [("email", "ops@example.com"), ("slack", "https://hooks.slack.com/services/T/B/x"),
                       ("webhook", "https://a.io/b"), ("webhook", "https://example.com/hook")]


def test_the_catalogue_is_readable_by_the_api_roles_that_write_or_read_rules(alerting, workspace):
    with alerting.api() as conn, acting_as(conn, "authenticated", workspace[2]):
        metrics = {row[0] for row in conn.execute("select metric_type from analytics.alert_metrics")}
    assert {"total_runs", "failed_runs", "error_rate", "total_credits", "active_users", "avg_response_time_ms",
            "p95_response_time_ms", "errors", "avg_run_seconds", "no_data", "pipeline_lag_minutes",
            "pipeline_failures"} == metrics


# -- the values: every metric, per workspace and platform-wide, against the raw rows ------------

def _of_scope(rows: list[dict], scope: object) -> list[dict]:
    """The rows of a workspace, or every row for the platform (None)."""
    return [row for row in rows if scope is None or row["workspace_id"] == scope]


def expected_values(raw: oracle.Raw, at: datetime, minutes: int) -> dict[tuple[str, object], Decimal | None]:
    """Each catalogue metric over (at - minutes, at], per workspace and for the platform (None),
    from the raw rows as docs/alerts.md defines them."""
    start = at - timedelta(minutes=minutes)
    runs = [r for r in raw.runs if start <= r["started_at"] < at]
    events = [e for e in raw.events if start <= e["created_at"] < at]
    arrivals = [e["workspace_id"] for e in raw.events if start <= e["ingested_at"] < at]
    arrivals += [r["workspace_id"] for r in raw.runs if start <= r["updated_at"] < at]
    scopes = {w["id"] for w in raw.workspaces} | {None}
    values: dict[tuple[str, object], Decimal | None] = {}
    for scope in scopes:
        scope_runs, scope_events = _of_scope(runs, scope), _of_scope(events, scope)
        failed = [r for r in scope_runs if r["status"] == "failed"]
        runtimes = [r["runtime_seconds"] for r in scope_runs
                    if r["runtime_seconds"] is not None and 0 <= r["runtime_seconds"] <= 31536000]
        responses = [Decimal(str(e["metadata"]["response_time_ms"])) for e in scope_events
                     if e["event_type"] == "api_call" and isinstance((e["metadata"] or {}).get("response_time_ms"),
                                                                     (int, float))
                     and not isinstance(e["metadata"]["response_time_ms"], bool)
                     and 0 <= e["metadata"]["response_time_ms"] <= 86400000]
        values[("total_runs", scope)] = Decimal(len(scope_runs))
        values[("failed_runs", scope)] = Decimal(len(failed))
        values[("error_rate", scope)] = (Decimal(100) * len(failed) / len(scope_runs)) if scope_runs else None
        values[("total_credits", scope)] = sum((r["credits_consumed"] for r in scope_runs), Decimal(0))
        values[("avg_run_seconds", scope)] = oracle.mean(runtimes)
        values[("active_users", scope)] = Decimal(len({e["user_id"] for e in scope_events if e["user_id"]}))
        values[("avg_response_time_ms", scope)] = oracle.mean(responses)
        values[("p95_response_time_ms", scope)] = (
            Decimal(str(oracle.percentile_cont(responses, 0.95))) if responses else None)
        values[("errors", scope)] = Decimal(sum(e["event_type"] == "error" for e in scope_events))
        values[("no_data", scope)] = Decimal(sum(scope is None or w == scope for w in arrivals))
    return values


def close(actual: Decimal | None, expected: Decimal | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return abs(Decimal(actual) - expected) <= Decimal("0.0001") * max(1, abs(expected))


def test_every_metric_of_every_scope_equals_the_raw_rows(alerting):
    # Evaluated at the end of the hour of the last run that had a timed API call in the day
    # before it, not where the data ends: which runs and calls fall in the day before the end
    # depends on the date and hour the test runs (none at 00:59 on Monday 2026-12-28), and the
    # last assertion would fail on a day with nothing to compare. Rows after `at` exist, and
    # must be left out.
    at = alerting.value(
        "select date_trunc('hour', max(r.started_at), 'UTC') + interval '1 hour' from public.agent_runs as r "
        "where exists (select from analytics.user_activity as e where e.event_type = 'api_call' "
        "and jsonb_typeof(e.metadata -> 'response_time_ms') = 'number' and e.created_at < r.started_at "
        "and e.created_at > date_trunc('hour', r.started_at, 'UTC') - interval '23 hours')")
    windows = (60, 1440)
    # the pipeline's own metrics are platform-only and measured against its runs (test_worker.py)
    metrics = [row[0] for row in alerting.rows(
        "select metric_type from analytics.alert_metrics where source not in ('lag', 'pipeline')")]
    with alerting.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("update analytics.alert_rules set is_active = false")
        workspaces = [row[0] for row in conn.execute("select id from public.workspaces")] + [None]
        for metric in metrics:
            condition = "less_than" if metric == "no_data" else "greater_than"
            for scope in workspaces:
                for minutes in windows:
                    insert_rule(conn, workspace_id=scope, name=f"{metric}/{minutes}", metric_type=metric,
                                condition=condition, threshold_value=1, evaluation_window_minutes=minutes)
        conn.execute("select analytics.evaluate_alerts(%s)", (at,))
        computed = conn.execute(
            "select r.metric_type, r.workspace_id, r.evaluation_window_minutes, s.last_value "
            "from analytics.alert_rule_states s join analytics.alert_rules r on r.id = s.alert_rule_id").fetchall()
        raw = oracle.load(conn)
    expected = {minutes: expected_values(raw, at, minutes) for minutes in windows}
    assert len(computed) == len(metrics) * len(workspaces) * len(windows)
    wrong = [(metric, scope, minutes, value, expected[minutes][(metric, scope)])
             for metric, scope, minutes, value in computed if not close(value, expected[minutes][(metric, scope)])]
    assert wrong == []
    # the data holds something to compare
    assert all(expected[1440][(metric, None)] for metric in ("total_runs", "active_users", "avg_response_time_ms"))


# -- states and episodes -----------------------------------------------------------------------

def add_runs(conn: psycopg.Connection, workspace_id: uuid.UUID, moments: list[datetime], status: str = "completed"):
    agent_id, user_id = conn.execute(
        "select a.id, m.user_id from public.agents a join public.workspace_members m using (workspace_id) "
        "where a.workspace_id = %s limit 1", (workspace_id,)).fetchone()
    for moment in moments:
        conn.execute(
            "insert into public.agent_runs (id, agent_id, workspace_id, user_id, status, started_at, completed_at, "
            "runtime_seconds, credits_consumed, model, tokens_used, updated_at) values "
            "(gen_random_uuid(), %s, %s, %s, %s, %s, %s, 1, 1, 'gpt-4o', 10, %s)",
            (agent_id, workspace_id, user_id, status, moment, moment, moment))


@pytest.mark.parametrize("at", [None, "infinity", "-infinity"])
def test_an_evaluation_at_no_finite_time_is_refused_and_changes_nothing(alerting, at):
    with alerting.connect() as conn:
        before = conn.execute("select count(*), max(changed_at) from analytics.alert_rule_states").fetchone()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="evaluated_at must be a finite time"):
            conn.execute("select analytics.evaluate_alerts(%s::timestamptz)", (at,))
        assert conn.execute("select count(*), max(changed_at) from analytics.alert_rule_states").fetchone() == before


def step(conn: psycopg.Connection, rule_id: uuid.UUID, at: datetime) -> tuple[str, Decimal]:
    conn.execute("select analytics.evaluate_alerts(%s)", (at,))
    return conn.execute("select state, last_value from analytics.alert_rule_states where alert_rule_id = %s",
                        (rule_id,)).fetchone()


def notifications(conn: psycopg.Connection, rule_id: uuid.UUID) -> list[str]:
    return [row[0] for row in conn.execute(
        "select event from analytics.alert_notifications where alert_rule_id = %s order by created_at, event",
        (rule_id,))]


def test_a_rule_goes_pending_fires_once_renotifies_holds_at_the_margin_and_resolves(alerting, workspace):
    """total_runs > 2 over 10 minutes, for 2 minutes; resolves at 1 or fewer; again every 5 minutes."""
    start = alerting.data_end + timedelta(days=2)
    minute = timedelta(minutes=1)
    with alerting.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("update analytics.alert_rules set is_active = false")
        rule_id = insert_rule(conn, workspace_id=workspace[0], threshold_value=2, recovery_threshold=1,
                              evaluation_window_minutes=10, pending_minutes=2, renotify_minutes=5,
                              notification_channels=["webhook", "email"],
                              notification_recipients=["https://hooks.example.com/a", "ops@example.com"])
        assert step(conn, rule_id, start) == ("ok", 0)
        add_runs(conn, workspace[0], [start + minute, start + 2 * minute, start + 3 * minute])
        seen = [step(conn, rule_id, start + n * minute)[0] for n in (4, 5, 6, 8, 10)]
        assert seen == ["pending", "pending", "firing", "firing", "firing"]
        assert sorted(notifications(conn, rule_id)) == ["firing", "firing"]  # one per channel
        assert step(conn, rule_id, start + 11 * minute) == ("firing", 3)  # 5 minutes after firing: again
        assert notifications(conn, rule_id).count("renotify") == 2
        # 2 runs: no longer above 2, not yet down to 1: still firing, nothing sent
        assert step(conn, rule_id, start + 12 * minute) == ("firing", 2)
        assert step(conn, rule_id, start + 13 * minute) == ("ok", 1)
        assert step(conn, rule_id, start + 14 * minute) == ("ok", 0)
        assert sorted(notifications(conn, rule_id)) == ["firing"] * 2 + ["renotify"] * 2 + ["resolved"] * 2
        episodes = conn.execute(
            "select state, triggered_at, resolved_at, metric_value, resolved_value from analytics.alert_history "
            "where alert_rule_id = %s", (rule_id,)).fetchall()
        assert episodes == [("resolved", start + 6 * minute, start + 13 * minute, 3, 1)]
        assert conn.execute("select trigger_count, last_triggered_at from analytics.alert_rules where id = %s",
                            (rule_id,)).fetchone() == (1, start + 6 * minute)
        payload = conn.execute("select payload from analytics.alert_notifications where alert_rule_id = %s "
                               "and event = 'resolved' limit 1", (rule_id,)).fetchone()[0]
        assert payload["value"] == 1 and payload["threshold"] == 2 and payload["metric_type"] == "total_runs"
        assert payload["since"].startswith(str((start + 6 * minute).date()))


def test_acknowledged_or_silenced_alerts_are_not_sent_again_but_still_resolve(alerting, workspace):
    start = alerting.data_end + timedelta(days=3)
    minute = timedelta(minutes=1)
    with alerting.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("update analytics.alert_rules set is_active = false")
        acked = insert_rule(conn, workspace_id=workspace[0], name="acked", threshold_value=0,
                            evaluation_window_minutes=30, renotify_minutes=1,
                            notification_channels=["email"], notification_recipients=["ops@example.com"])
        silenced = insert_rule(conn, workspace_id=workspace[0], name="silenced", threshold_value=0,
                               evaluation_window_minutes=30, renotify_minutes=1,
                               silenced_until=start + 10 * minute,
                               notification_channels=["email"], notification_recipients=["ops@example.com"])
        add_runs(conn, workspace[0], [start])
        step(conn, acked, start + minute)
        alert_id = conn.execute("select id from analytics.alert_history where alert_rule_id = %s", (acked,)).fetchone()[0]
        conn.execute("set local role service_role")
        conn.execute("select analytics.acknowledge_alert(%s, 'looking into it')", (alert_id,))
        conn.execute("reset role")
        for n in range(2, 6):
            step(conn, acked, start + n * minute)
        assert notifications(conn, acked) == ["firing"]
        assert notifications(conn, silenced) == []
        assert conn.execute("select state, notification_status from analytics.alert_history "
                            "where alert_rule_id = %s", (silenced,)).fetchone() == ("firing", None)
        # silence over: due again; then the runs leave the window and both resolve
        step(conn, acked, start + 11 * minute)
        assert notifications(conn, silenced) == ["renotify"]
        step(conn, acked, start + 31 * minute)
        assert notifications(conn, acked) == ["firing", "resolved"]
        assert notifications(conn, silenced) == ["renotify", "resolved"]


def test_a_rule_switched_off_while_firing_closes_its_episode_without_a_message(alerting, workspace):
    start = alerting.data_end + timedelta(days=4)
    with alerting.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("update analytics.alert_rules set is_active = false")
        rule_id = insert_rule(conn, workspace_id=workspace[0], threshold_value=0, evaluation_window_minutes=30,
                              notification_channels=["email"], notification_recipients=["ops@example.com"])
        add_runs(conn, workspace[0], [start])
        step(conn, rule_id, start + timedelta(minutes=1))
        conn.execute("update analytics.alert_rules set is_active = false where id = %s", (rule_id,))
        conn.execute("select analytics.evaluate_alerts(%s)", (start + timedelta(minutes=2),))
        assert conn.execute("select state from analytics.alert_history where alert_rule_id = %s",
                            (rule_id,)).fetchone() == ("resolved",)
        assert notifications(conn, rule_id) == ["firing"]
        assert conn.execute("select count(*) from analytics.alert_rule_states where alert_rule_id = %s",
                            (rule_id,)).fetchone() == (0,)


def test_a_rule_stored_before_the_checks_is_skipped_and_the_others_evaluated(alerting, workspace):
    with alerting.connect() as conn, conn.transaction(force_rollback=True):
        conn.execute("update analytics.alert_rules set is_active = false")
        conn.execute("alter table analytics.alert_rules disable trigger check_alert_rule")
        insert_rule(conn, workspace_id=workspace[0], name="old", metric_type="made_up",
                    evaluation_window_minutes=100000)
        conn.execute("alter table analytics.alert_rules enable trigger check_alert_rule")
        good = insert_rule(conn, workspace_id=workspace[0], name="good", threshold_value=0)
        conn.execute("select analytics.evaluate_alerts(%s)", (alerting.data_end,))
        assert conn.execute("select count(*) from analytics.alert_rule_states").fetchone() == (1,)
        assert conn.execute("select alert_rule_id from analytics.alert_rule_states").fetchone() == (good,)


def test_the_retention_removes_old_delivered_messages_and_keeps_those_still_waiting(alerting, workspace):
    with alerting.connect() as conn, conn.transaction(force_rollback=True):
        rule_id = insert_rule(conn, workspace_id=workspace[0], notification_channels=["email"],
                              notification_recipients=["ops@example.com"])
        alert_id = conn.execute("insert into analytics.alert_history (alert_rule_id, workspace_id) "
                                "values (%s, %s) returning id", (rule_id, workspace[0])).fetchone()[0]
        for status, age in (("sent", 40), ("failed", 40), ("pending", 40), ("sent", 2)):
            conn.execute(
                "insert into analytics.alert_notifications (alert_id, alert_rule_id, workspace_id, event, channel, "
                "target, payload, status, created_at) values (%s, %s, %s, 'firing', 'email', 'ops@example.com', "
                "'{}', %s, now() - make_interval(days => %s))", (alert_id, rule_id, workspace[0], status, age))
        conn.execute("select analytics.cleanup_old_data()")
        kept = conn.execute("select status, extract(day from now() - created_at)::int from analytics.alert_notifications "
                            "where alert_id = %s order by 1, 2", (alert_id,)).fetchall()
    assert kept == [("pending", 40), ("sent", 2)]


# -- acknowledge, and who reads what ------------------------------------------------------------

@pytest.fixture
def open_alert(alerting, workspace):
    """A firing alert in the workspace, removed afterwards with its rule."""
    with alerting.connect() as conn:
        rule_id = insert_rule(conn, workspace_id=workspace[0], name="open", threshold_value=0,
                              evaluation_window_minutes=1440, notification_channels=["webhook"],
                              notification_recipients=["https://hooks.example.com/secret-token"])
        alert_id = conn.execute(
            "insert into analytics.alert_history (alert_rule_id, workspace_id, metric_value, threshold_value) "
            "values (%s, %s, 5, 0) returning id", (rule_id, workspace[0])).fetchone()[0]
    yield alert_id
    with alerting.connect() as conn:
        conn.execute("delete from analytics.alert_rules where id = %s", (rule_id,))


def test_an_owner_acknowledges_an_alert_with_notes_and_it_is_audited(alerting, workspace, open_alert):
    _, owner, _ = workspace
    with alerting.api() as conn, acting_as(conn, "authenticated", owner, commit=True):
        row = conn.execute("select acknowledged_by, notes from analytics.acknowledge_alert(%s, 'on it')",
                           (open_alert,)).fetchone()
    assert row == (owner, "on it")
    assert alerting.rows(
        "select actor_user_id::text, details ->> 'alert_id' from analytics.audit_log where action = 'acknowledge_alert' "
        "order by id desc limit 1") == [(str(owner), str(open_alert))]


@pytest.mark.parametrize("who", ["member", "another workspace's owner", "anon"])
def test_others_cannot_acknowledge(alerting, workspace, open_alert, who):
    workspace_id, _, member = workspace
    if who == "anon":
        with alerting.api() as conn, acting_as(conn, "anon"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for schema analytics"):
                conn.execute("select analytics.acknowledge_alert(%s, 'x')", (open_alert,))
        return
    user = member if who == "member" else alerting.value(
        "select user_id from public.workspace_members where role = 'owner' and workspace_id <> %s "
        "and user_id not in (select user_id from public.workspace_members where workspace_id = %s) limit 1",
        (workspace_id, workspace_id))
    with alerting.api() as conn, acting_as(conn, "authenticated", user):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="no alert .* in a workspace you own"):
            conn.execute("select analytics.acknowledge_alert(%s, 'x')", (open_alert,))
    assert alerting.value("select acknowledged_at from analytics.alert_history where id = %s", (open_alert,)) is None


def test_notes_too_long_are_refused(alerting, workspace, open_alert):
    with alerting.api() as conn, acting_as(conn, "authenticated", workspace[1]):
        with pytest.raises(psycopg.errors.StringDataRightTruncation, match="longer than 4000"):
            conn.execute("select analytics.acknowledge_alert(%s, %s)", (open_alert, "x" * 4001))


def test_members_read_their_rules_states_and_nobody_but_service_role_reads_targets_or_secrets(
        alerting, workspace, open_alert):
    workspace_id, owner, member = workspace
    with alerting.connect() as conn:
        conn.execute("select analytics.evaluate_alerts(%s)", (alerting.data_end,))
    states = defaultdict(int)
    for (scope,) in alerting.rows("select workspace_id from analytics.alert_rule_states"):
        states[scope] += 1
    with alerting.api() as conn, acting_as(conn, "authenticated", member):
        seen = conn.execute("select distinct workspace_id from analytics.alert_rule_states").fetchall()
        assert seen and {row[0] for row in seen} <= set(
            row[0] for row in conn.execute("select analytics.member_workspace_ids()"))
        for table in ("alert_notifications", "webhook_secrets"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"select * from analytics.{table}")
        for call in ("analytics.webhook_secret(%s)", "analytics.rotate_webhook_secret(%s)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"select {call}", (workspace_id,))
    with alerting.api() as conn, acting_as(conn, "service_role"):
        secret = conn.execute("select analytics.webhook_secret(%s)", (workspace_id,)).fetchone()[0]
        assert len(secret) == 64 and conn.execute("select analytics.webhook_secret(%s)",
                                                  (workspace_id,)).fetchone()[0] == secret
        rotated = conn.execute("select analytics.rotate_webhook_secret(%s)", (workspace_id,)).fetchone()[0]
        assert rotated != secret and conn.execute(
            "select secret from analytics.webhook_secrets where workspace_id = %s", (workspace_id,)).fetchone() == (rotated,)
