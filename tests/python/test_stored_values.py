"""No stored value breaks a later step. Property-based: hypothesis stores extreme and malformed
values through every path a caller has (track_event as a member, INSERT as service_role, the
app's own columns within their types), then the build, the view refresh,
aggregate_daily_metrics and alert evaluation must all succeed; track_event may refuse a value,
but only with its own clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from conftest import acting_as
from test_metrics import check_every_metric

EVENT_TYPES = ["page_view", "agent_run", "login", "logout", "workspace_switch", "feature_use", "error",
               "api_call", "export", "report_view"]
# PostgreSQL text and jsonb hold no NUL character: such a value is refused by the database itself.
text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=80)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e30"), max_value=Decimal("1e30")),
    st.sampled_from([0, -1, 86_400_000, 86_400_001, 2**31, 2**63, 1e300, -1e-300]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=6,
)
metadata = st.one_of(
    st.fixed_dictionaries({}, optional={"response_time_ms": json_values, "error_type": json_values,
                                        "endpoint": json_values, "feature": json_values}),
    json_values,
)
moments = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.integers(min_value=-5 * 24 * 60, max_value=2 * 24 * 60).map(lambda m: datetime.now(UTC) + timedelta(minutes=m)),
)
events = st.fixed_dictionaries({
    "event_type": st.sampled_from(EVENT_TYPES),
    "metadata": metadata,
    "created_at": moments,
    "event_name": text,
    "page_path": text,
    "referrer": st.none() | text,
    "user_agent": st.none() | text,
    "ingested_at": st.none() | moments,
    "same_session": st.booleans(),
})
run_changes = st.fixed_dictionaries({
    "runtime_seconds": st.none() | st.decimals(min_value=Decimal("-999999999.999"), max_value=Decimal("999999999.999"),
                                               places=3),
    "credits_consumed": st.decimals(min_value=Decimal("-99999999.9999"), max_value=Decimal("99999999.9999"), places=4),
    "tokens_used": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    "status": st.sampled_from(["queued", "running", "completed", "failed", "cancelled"]),
    "error_type": st.none() | text,
    "error_message": st.none() | text,
    "model": text.filter(bool),
    "user_rating": st.none() | st.integers(min_value=1, max_value=5),
    "feedback": st.none() | text,
})


@pytest.fixture(scope="module")
def hostile(make_database):
    project_db = make_database(seed=61)
    project_db.build(data_tests=False)
    # rules stored before the checks a rule passes when written existed (check_alert_rule)
    with project_db.connect() as conn, conn.transaction():
        conn.execute("alter table analytics.alert_rules disable trigger check_alert_rule")
        conn.execute(
            "insert into analytics.alert_rules (workspace_id, name, metric_type, condition, threshold_value, "
            "evaluation_window_minutes) select null, 'platform ' || m, m, 'greater_than', -1, 100000 "
            "from unnest(array['total_runs', 'failed_runs', 'error_rate', 'total_credits', 'active_users', "
            "'avg_response_time_ms']) as m"
        )
        conn.execute("alter table analytics.alert_rules enable trigger check_alert_rule")
    return project_db


def as_json(value) -> Jsonb:
    """JSON with decimals written as the exact numbers they are (json cannot write Decimal)."""
    decimals: list[Decimal] = []

    def mark(item):
        if isinstance(item, Decimal):
            decimals.append(item)
            return f"__decimal_{len(decimals) - 1}__"
        if isinstance(item, dict):
            return {key: mark(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [mark(inner) for inner in item]
        return item

    text = json.dumps(mark(value))
    for index, number in enumerate(decimals):
        text = text.replace(f'"__decimal_{index}__"', str(number))
    return Jsonb(value, dumps=lambda _: text)


def store_as_service_role(conn, user_id, workspace_id, event: dict, session) -> None:
    with conn.transaction():
        conn.execute("set local role service_role")
        conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, event_name, page_path, "
            "session_id, referrer, user_agent, metadata, created_at, ingested_at) "
            "values (%s, %s, %s, left(%s, 100), left(%s, 255), %s, %s, %s, %s, %s, coalesce(%s, now()))",
            (user_id, workspace_id, event["event_type"], event["event_name"], event["page_path"], session,
             event["referrer"], event["user_agent"], as_json(event["metadata"]), event["created_at"],
             event["ingested_at"]),
        )


def track_as_member(api, user_id, workspace_id, event: dict, session) -> None:
    headers = {"x-forwarded-for": event["user_agent"] or "", "user-agent": event["user_agent"] or ""}
    with acting_as(api, "authenticated", user_id, headers=headers):
        try:
            with api.transaction():
                api.execute(
                    "select analytics.track_event(%s, %s, %s, %s, %s, %s, %s, %s)",
                    (event["event_type"], workspace_id, event["event_name"], event["page_path"], session,
                     as_json(event["metadata"]), event["referrer"], event["created_at"]),
                )
        except psycopg.Error as refused:
            # refused, in one sentence of its own: never a cast or overflow from deep inside
            assert str(refused).startswith("track_event:"), str(refused)


@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate],  # a build per example: no shrinking
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(batch=st.lists(events, min_size=1, max_size=12), runs=st.lists(run_changes, min_size=1, max_size=4))
def test_nothing_a_caller_stores_stops_a_build_a_refresh_an_aggregation_or_an_evaluation(hostile, batch, runs):
    user_id, workspace_id = hostile.rows(
        "select user_id, workspace_id from public.workspace_members order by joined_at limit 1")[0]
    session = hostile.value("select gen_random_uuid()")
    with hostile.connect() as conn, hostile.api() as api:
        for event in batch:
            store_as_service_role(conn, user_id, workspace_id if event["same_session"] else None, event,
                                  session if event["same_session"] else None)
            track_as_member(api, user_id, workspace_id, event, session if event["same_session"] else None)
    with hostile.connect_as("supabase_admin") as app:  # the app changes its own rows within their types
        run_ids = [row[0] for row in app.execute(
            "select id from public.agent_runs order by started_at desc limit %s", (len(runs),)).fetchall()]
        for run_id, change in zip(run_ids, runs):
            app.execute(
                "update public.agent_runs set runtime_seconds = %(runtime_seconds)s, "
                "credits_consumed = %(credits_consumed)s, tokens_used = %(tokens_used)s, status = %(status)s, "
                "error_type = %(error_type)s, error_message = %(error_message)s, model = %(model)s, "
                "user_rating = %(user_rating)s, feedback = %(feedback)s where id = %(id)s",
                {**change, "id": run_id},
            )
    hostile.build()
    with hostile.connect() as conn:
        conn.execute("set role service_role")
        conn.execute("select analytics.refresh_all_materialized_views()")
        conn.execute("select analytics.aggregate_daily_metrics((now() at time zone 'UTC')::date)")
        conn.execute("select analytics.evaluate_alerts(now())")


def test_what_staging_neutralized_is_counted_for_operators_and_the_metrics_hold(hostile):
    with hostile.connect() as conn, conn.transaction():
        conn.execute("set local role service_role")
        conn.execute(
            "insert into analytics.user_activity (user_id, workspace_id, event_type, metadata, created_at) "
            "select user_id, workspace_id, t, m::jsonb, c from (select user_id, workspace_id "
            "from public.workspace_members limit 1) as member, (values "
            "('api_call', '{\"response_time_ms\": 1e300}', now()), "
            "('api_call', '{\"response_time_ms\": \"12\"}', now()), "
            "('error', '{\"error_type\": \"<script>alert(1)</script>\"}', now()), "
            "('error', json_build_object('error_type', repeat('x', 500))::text, now()), "
            "('login', '{}', now() - interval '5 years'), "
            "('login', '{}', now() + interval '3 days')) as v (t, m, c)"
        )
    hostile.build()
    counted = dict(hostile.rows(
        "select field, sum(events) from analytics.input_quality "
        "where arrival_date = (now() at time zone 'UTC')::date group by field"))
    assert counted.get("metadata.response_time_ms", 0) >= 2
    assert counted.get("metadata.error_type", 0) >= 2
    assert counted.get("created_at", 0) >= 2
    keys = hostile.rows("select distinct jsonb_object_keys(errors_by_type) from analytics.daily_metrics")
    assert all(len(key) <= 63 and "<" not in key for (key,) in keys)
    check_every_metric(hostile)


def test_an_event_name_that_reads_as_a_null_is_a_row_of_its_own(hostile):
    """row_id writes a NULL as '∅': an event named '∅' beside one with no name had the same id,
    and every build after failed on the duplicate key. Any signed-in user could store both."""
    user_id, workspace_id = hostile.rows(
        "select user_id, workspace_id from public.workspace_members order by joined_at limit 1")[0]
    with hostile.api() as api:
        for name in (None, "∅", "∅", "∅∅", "x∅"):
            with acting_as(api, "authenticated", user_id, commit=True):
                api.execute("select analytics.track_event('export', %s, event_name => %s)", (workspace_id, name))
                api.execute("select analytics.track_event('export', event_name => %s)", (name,))
    hostile.build()
    for workspace in (workspace_id, None):
        counted = dict(hostile.rows(
            "select event_name, events from analytics.event_usage_daily "
            "where metric_date = (now() at time zone 'UTC')::date and workspace_id is not distinct from %s "
            "and event_type = 'export' and (event_name is null or event_name like '%%∅%%')", (workspace,)))
        # the platform's rows (workspace NULL) count every workspace's events too
        expected = dict(hostile.rows(
            "select event_name, count(*) from analytics.user_activity where event_type = 'export' "
            "and (%s::uuid is null or workspace_id = %s) and (event_name is null or event_name like '%%∅%%') "
            "and (created_at at time zone 'UTC')::date = (now() at time zone 'UTC')::date group by 1",
            (workspace, workspace)))
        assert counted == expected and len(counted) == 4, (workspace, counted, expected)
