"""Lints the SQL that the project's macros render, with the project's sqlfluff rules (.sqlfluff).

sqlfluff's jinja templater lints the models, but it cannot lint macros: a file of macros
renders to nothing, what a called macro renders counts as templated (never linted), and a
macro there sees only the macros of its own file. So each macro that renders SQL is rendered
here through dbt itself (the project parsed offline, the macro called in a model's runtime
context, as dbt calls it) with representative arguments, once for each kind of build that
renders it differently, and what it renders is linted as plain SQL. The statements that macros
hand to run_query are linted too. No database is needed: run_query answers with
representative rows.

    ./scripts/lint                                  (models and macros)
    .venv/bin/python tests/python/macro_lint.py     (macros only)

A macro that renders SQL is listed in CALLS with a statement that uses it as its callers do
(a fragment is embedded where it belongs, indented with `indent`); one that renders none is
listed in RENDERS_NO_SQL with what it does instead. A test fails on a macro listed in neither.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = "agent_analytics"


@dataclass(frozen=True)
class Build:
    """A kind of build that renders the macros differently."""

    name: str
    incremental: bool
    backfill: bool = False
    unit_test: bool = False  # refs are the CTEs of a dbt unit test


BUILDS = (
    Build("full build", incremental=False),
    Build("incremental build", incremental=True),
    Build("backfill", incremental=True, backfill=True),
    Build("unit test", incremental=True, unit_test=True),
)

# What run_query answers, by a phrase of the query: representative rows, no database.
QUERY_ANSWERS = {
    "read_start::text": ["2026-01-05 10:00:00+00"],
    "select day::text": ["2026-01-04", "2026-01-05"],
    "to_char(hour": ["2026-01-05T09:00:00+00", "2026-01-05T10:00:00+00"],
    "select user_id::text": ["7d3c5f4e-0000-4000-8000-000000000001"],
    "select coalesce((": ["2026-01-04 23:10:00+00"],
}

EVENTS = "ref('stg_analytics__user_activity')"
RUNS = "ref('stg_app__agent_runs')"

# Each macro that renders SQL, with the statements (Jinja, in a model's context) that use it
# as its callers do; the model is `this` (default int_user_scope_days).
CALLS: dict[str, list[str]] = {
    # macros/rollups/utc_time.sql
    "utc_date": ["select {{ utc_date('events.created_at') }} as event_date from events"],
    "utc_today": ["select {{ utc_today() }} as today"],
    "utc_day_start": ["select {{ utc_day_start(\"'2026-01-05'::date\") }} as day_start"],
    "utc_hour": ["select {{ utc_hour('events.created_at') }} as event_hour from events"],
    "utc_period": [
        "select {{ utc_period('day', 'created_at') }} as period from events",
        "select {{ utc_period('hour', 'created_at') }} as period from events",
    ],
    "cohort_start": [
        "select\n    cohorts.period,\n    {{ cohort_start('cohorts.period', 'cohorts.first_day') | indent(4) }} as cohort_date\n"
        "from cohorts",
    ],
    # macros/rollups/scopes_and_ids.sql
    "platform_scope_id": ["select {{ platform_scope_id() }} as scope_id"],
    "not_in_reserved_workspace": [
        "select events.*\nfrom events\nwhere\n    {{ not_in_reserved_workspace('events.workspace_id') }}",
    ],
    "workspace_from_scope": ["select {{ workspace_from_scope('days.scope_id') }} as workspace_id from days"],
    "scope_of_grouping": [
        "select\n    day,\n    {{ scope_of_grouping('workspace_id') | indent(4) }} as scope_id,\n    count(*) as events\n"
        "from events\ngroup by grouping sets ((day, workspace_id), (day))\n"
        "having {{ is_scope_grouping('workspace_id') }}",
    ],
    "is_scope_grouping": [],  # with scope_of_grouping
    "row_id": ["select\n    {{ row_id(['day', 'scope_id', 'user_id']) | indent(4) }} as id\nfrom days"],
    "rollup_timestamps": [
        "select\n    day,\n    {{ rollup_timestamps() | indent(4) }}\nfrom days",
        "select\n    day,\n    {{ rollup_timestamps(updated=false) | indent(4) }}\nfrom days",
    ],
    # macros/rollups/build_watermarks.sql
    "read_start_sql": ["select\n    {{ read_start_sql() | indent(4) }} as read_start"],
    "build_cut_sql": ["select\n    {{ build_cut_sql() | indent(4) }} as cut"],
    "record_build_cut": ["{{ record_build_cut() }}"],
    "assert_build_cut_recorded": ["{{ assert_build_cut_recorded() }}"],
    "build_watermark": ["select *\nfrom events\nwhere ingested_at >= {{ build_watermark() }}"],
    "record_watermarks": ["{{ record_watermarks() }}"],
    # macros/rollups/what_arrived.sql
    "taken_in": [
        f"select *\nfrom {{{{ {EVENTS} }}}}\nwhere\n    {{{{ taken_in('events') | indent(4) }}}}",
        f"select runs.*\nfrom {{{{ {RUNS} }}}} as runs\nwhere\n    {{{{ taken_in('runs', 'runs') | indent(4) }}}}",
    ],
    "deletions_taken_in": ["{{ deletions_taken_in('event', 'run') }}"],
    "arrivals": ["{{ arrivals('day', 'activity_date') }}", "{{ arrivals('hour', 'activity_hour') }}"],
    "in_both_scopes": ["{{ in_both_scopes('arrivals', 'activity_date') }}"],
    "users_whose_first_day_moved": [
        "{{ users_whose_first_day_moved('touched', 'activity_date', ref('int_user_first_seen')) }}",
    ],
    "earliest_taken_in": [
        f"select *\nfrom events\nwhere\n    created_at >= {{{{ earliest_taken_in({EVENTS}, {RUNS}) | indent(4) }}}}",
        f"select *\nfrom runs\nwhere\n    started_at >= {{{{ earliest_taken_in(runs_relation={RUNS}) | indent(4) }}}}",
    ],
    "days_taken_in": [
        f"{{% set days = days_taken_in({EVENTS}, {RUNS}, ref('int_sessions'), ref('int_user_first_seen'),"
        " ref('int_user_scope_days')) %}\n"
        "select events.*\nfrom events\nwhere\n    {{ in_days('events.created_at', days) | indent(4) }}",
        f"{{% set days = days_taken_in({EVENTS}, {RUNS}) %}}\n"
        "select days.*\nfrom days\nwhere\n    {{ in_days('days.activity_date', days, is_date=true) | indent(4) }}",
    ],
    "hours_taken_in": [
        f"{{% set hours = hours_taken_in({EVENTS}, {RUNS}) %}}\n"
        "select events.*\nfrom events\nwhere\n    {{ in_hours('events.created_at', hours) | indent(4) }}",
    ],
    "in_days": [],  # with days_taken_in
    "in_hours": [],  # with hours_taken_in
    "runs_of_touched_agent_days": [f"{{{{ runs_of_touched_agent_days({RUNS}) }}}}"],
    "time_ordered_on_full_build": ["select * from days\n{{ time_ordered_on_full_build('activity_date') }}"],
    # macros/rollups/daily_metrics_rows.sql
    "daily_metrics_rows": [
        "{{ daily_metrics_rows(none) }}",
        "{{ daily_metrics_rows('2026-01-04,2026-01-05') }}",
    ],
    "create_aggregate_daily_metrics_function": ["{{ create_aggregate_daily_metrics_function() }}"],
    # macros/rollups/hourly_metrics_rows.sql, live_metrics.sql
    "hourly_metrics_rows": [
        "with user_hours as (\n    select * from hours\n),\n\napi_calls as (\n    select * from calls\n),\n\n"
        "runs as (\n    select * from agent_runs\n),\n\n{{ hourly_metrics_rows() }}",
        "with user_hours as (\n    select * from hours\n),\n\napi_calls as (\n    select * from calls\n),\n\n"
        "runs as (\n    select * from agent_runs\n),\n\n{{ hourly_metrics_rows(with_platform=false) }}",
    ],
    "live_window_start": ["select\n    {{ live_window_start() | indent(4) }} as live_from"],
    "live_window_end": ["select {{ live_window_end() }} as live_until"],
    "max_event_lead": ["select now() + {{ max_event_lead() }} as latest"],
    "runs_started_since_live_start": [
        "select live_runs_since.run_hour\nfrom {{ runs_started_since_live_start(ref('int_agent_runs'), none) }}",
        "select live_runs_since.run_hour\nfrom {{ runs_started_since_live_start(ref('int_agent_runs'), 'p_workspace_ids') }}",
    ],
    "live_hourly_rows": [
        "{{ live_hourly_rows(ref('stg_analytics__user_activity'), ref('int_agent_runs'), none) }}",
        "{{ live_hourly_rows(ref('stg_analytics__user_activity'), ref('int_agent_runs'), 'p_workspace_ids') }}",
    ],
    "live_daily_rows": [
        "{{ live_daily_rows(ref('stg_analytics__user_activity'), ref('int_agent_runs'), ref('int_user_first_seen'),"
        " none) }}",
        "{{ live_daily_rows(ref('stg_analytics__user_activity'), ref('int_agent_runs'), ref('int_user_first_seen'),"
        " 'p_workspace_ids') }}",
    ],
    "create_live_hourly_functions": [
        "{{ create_live_hourly_functions(ref('stg_analytics__user_activity'), ref('int_agent_runs')) }}",
    ],
    "create_live_daily_functions": [
        "{{ create_live_daily_functions(ref('stg_analytics__user_activity'), ref('int_agent_runs'),"
        " ref('int_user_first_seen')) }}",
    ],
    "live_daily_columns": [],  # with create_live_daily_functions
    "create_live_doors": [],  # with create_live_hourly_functions and create_live_daily_functions
    "live_daily_built_columns": [],  # with create_live_daily_functions
    # macros/rollups/live_snapshot.sql
    "live_snapshot_max_age": ["select now() - {{ live_snapshot_max_age() }} as oldest"],
    "create_live_snapshot_bookkeeping": ["{{ create_live_snapshot_bookkeeping() }}"],
    "ensure_live_snapshot_table": [],  # with create_live_hourly_functions and create_live_daily_functions
    "create_live_snapshot_refresh": [],  # with create_live_hourly_functions and create_live_daily_functions
    "live_snapshot_is_fresh": [],  # with create_live_hourly_functions and create_live_daily_functions
    "relation_columns_text": [],  # with create_live_hourly_functions
    "recount_total_users": ["{{ recount_total_users() }}"],
    "total_users_on": [
        "select\n    {{ total_users_on('days.scope_id', 'days.metric_date', ref('stg_app__users'),"
        " ref('stg_app__workspace_members')) | indent(4) }} as total_users\nfrom days",
    ],
    # macros/incremental/
    "delete_emptied_rows": ["{{ delete_emptied_rows('active_users = 0') }}"],
    "delete_days_without_runs": ["{{ delete_days_without_runs('run_date') }}"],
    "delete_hours_without_activity": ["{{ delete_hours_without_activity() }}"],
    "delete_days_without_activity": ["{{ delete_days_without_activity() }}"],
    "delete_days_nobody_counts": ["{{ delete_days_nobody_counts() }}"],
    "delete_days_without_active_users": ["{{ delete_days_without_active_users() }}"],
    "delete_emptied_buckets": [],  # with the four above
    # macros/ddl/
    "drop_swapped_out_backup": ["{{ drop_swapped_out_backup() }}", "{{ drop_swapped_out_backup('view') }}"],
    "ensure_table_ddl": [
        "{{ ensure_table_ddl(not_null=['id'], defaults={'created_at': 'now()'},"
        " constraints={'days_user_fk': cascade_to_app('user_id', 'users')}) }}",
    ],
    "cascade_to_app": [],  # with ensure_table_ddl
    "ensure_index": ["{{ ensure_index('days_date_idx', '(activity_date)') }}"],
    "drop_covered_index": ["{{ drop_covered_index('days_old_idx') }}"],
    "ensure_updated_at_trigger": ["{{ ensure_updated_at_trigger() }}"],
    "name_index": ["{{ name_index('days_scope_user_date_key', ['scope_id', 'user_id', 'activity_date']) }}"],
    "enable_workspace_rls": ["{{ enable_workspace_rls() }}"],
    "create_member_function": ["{{ create_member_function() }}"],
    "make_security_invoker": ["{{ make_security_invoker() }}"],
    # macros/staging/
    "bounded_label": ["select\n    {{ bounded_label('events.error_type') | indent(4) }} as error_type\nfrom events"],
    "max_event_names_per_day": ["select *\nfrom names\nwhere name_rank <= {{ max_event_names_per_day() }}"],
    "other_event_names": ["select {{ other_event_names() }} as event_name"],
    "max_response_time_ms": ["select *\nfrom events\nwhere response_time_ms <= {{ max_response_time_ms() }}"],
    "max_runtime_seconds": ["select *\nfrom runs\nwhere runtime_seconds <= {{ max_runtime_seconds() }}"],
    "plausible_event_time": [
        "select events.*\nfrom events\nwhere\n"
        "    {{ plausible_event_time('events.created_at', 'events.ingested_at') | indent(4) }}",
    ],
    "credit_sum_type": ["select sum(credits)::{{ credit_sum_type() }} as credits from runs"],
    "credit_average_type": ["select avg(credits)::{{ credit_average_type() }} as credits from runs"],
    "credit_grain_type": ["select sum(credits)::{{ credit_grain_type() }} as credits from runs"],
    "widen_columns": ["{{ widen_columns({'total_credits': credit_sum_type()}) }}"],
    "not_erased": ["select events.*\nfrom events\nwhere\n    {{ not_erased('events.user_id') }}"],
    # macros/build/
    "use_build_role": ["{{ use_build_role() }}"],
    "assert_ready_to_build": ["{{ assert_ready_to_build() }}"],
    "build_session_settings": ["{{ build_session_settings() }}"],
    "commit_durably": [],  # with build_session_settings
    "register_runs": ["{{ register_runs() }}"],
    "erase_deleted_keys": ["{{ erase_deleted_keys() }}"],
    "forget_taken_in_deletions": ["{{ forget_taken_in_deletions() }}"],
    "internal_schema": ["select * from {{ internal_schema() }}.build_cuts"],
    # macros/deploy/
    "build_role": ["set role {{ build_role() }}"],
    "definer_search_path": [],  # in every function of the deploy
    "maintenance_function_settings": [],  # with create_refresh_function
    "app_schema_for_build": ["select * from {{ app_schema_for_build() }}.users"],
    "deploy_ledger_sql": ["{{ deploy_ledger_sql() }}"],
    "deploy_record_sql": ["{{ deploy_record_sql('grants', 'd41d8cd98f00b204e9800998ecf8427e') }}"],
    "disabled_deploy_triggers_sql": ["{{ disabled_deploy_triggers_sql() }}"],
    "deploy_check_app": ["{{ deploy_check_app() }}"],
    "deploy_build_role": ["{{ deploy_build_role() }}"],
    "deploy_build_role_temp": ["{{ deploy_build_role_temp() }}"],
    "deploy_reporting_role": ["{{ deploy_reporting_role() }}"],
    "deploy_schemas": ["{{ deploy_schemas() }}"],
    "deploy_app_views": ["{{ deploy_app_views() }}"],
    "deploy_app_access": ["{{ deploy_app_access() }}"],
    "claim_for_owner": [],  # in deploy_app_access and grant_analytics_privileges
    "reads_past_rls": [],  # in deploy_check_app and assert_ready_to_build
    "create_maintenance_functions": ["{{ create_maintenance_functions() }}"],
    "ensure_default_partitions": ["{{ ensure_default_partitions() }}"],
    "create_refresh_function": ["{{ create_refresh_function() }}"],
    "create_user_activity_table": ["{{ create_user_activity_table() }}"],
    "create_user_activity_indexes": ["{{ create_user_activity_indexes() }}"],
    "create_index_if_missing": [],  # in create_user_activity_indexes
    "drop_index_if_present": [],  # in create_user_activity_indexes
    "waiting_briefly": [],  # in drop_index_if_present, create_trigger_if_missing, drop_recent_activity_checks
    "create_trigger_if_missing": [],  # in the deploy's table steps
    "create_alert_tables": ["{{ create_alert_tables() }}"],
    "create_build_watermarks_table": ["{{ create_build_watermarks_table() }}"],
    "create_audit_log": ["{{ create_audit_log() }}"],
    "audit_actor_role": [],  # in create_audit_log
    "log_failed_call": [],  # in the deploy's sensitive functions
    "create_erasure": ["{{ create_erasure() }}"],
    "create_api_functions": ["{{ create_api_functions() }}"],
    "create_alert_evaluation": ["{{ create_alert_evaluation() }}"],
    "create_alert_work_tables": ["{{ create_alert_work_tables() }}"],
    "create_pipeline_health": ["{{ create_pipeline_health() }}"],
    "create_reporting_settings": ["{{ create_reporting_settings() }}"],
    "stored_credit_price": ["select {{ stored_credit_price() }} as credit_price_usd"],
    "create_track_event_limit": ["{{ create_track_event_limit() }}"],
    "create_recent_activity": ["{{ create_recent_activity() }}"],
    "upsert_recent_events": [],  # in create_recent_activity
    "recent_events_trigger": [],  # in create_recent_activity
    "load_recent_events": [],  # in create_recent_activity
    "note_recent_events_to_fix": [],  # in create_recent_activity
    "fix_noted_recent_events": [],  # in create_recent_activity
    "days_the_recent_triggers_copy": [],  # in create_recent_activity
    "copy_recent_events_the_triggers_leave": [],  # in create_recent_activity
    "older_than_the_recent_triggers_copy": [],  # in create_recent_activity
    "drop_recent_activity_checks": ["{{ drop_recent_activity_checks() }}"],
    "deploy_lock_key": ["select pg_advisory_xact_lock({{ deploy_lock_key() }})"],
    "forget_gone_recent_events": [],  # in create_recent_activity
    "copy_recent_events_written_since": [],  # in create_recent_activity
    "wait_for_a_deploy_in_flight": [],  # in create_maintenance_functions (cleanup_old_data)
    "rewrite_differing_recent_event": [],  # in the recent events' copies
    "insert_recent_events_from": [],  # in the recent events' copies
    "in_recent_window": [],  # in the recent events' copies
    "events_differ": [],  # in the recent events' copies
    "max_track_event_per_minute": [],  # in create_track_event_limit
    "insert_alert_values": [],  # in create_alert_evaluation
    "insert_windowed_values": [],  # in create_alert_evaluation
    "alert_windows_of": [],  # in create_alert_evaluation
    "alert_window_bounds": [],  # in create_alert_evaluation
    "manages_workspace": [],  # in create_api_functions and create_alert_api
    "requested_as_service_role": [],  # in track_event, manages_workspace and acknowledge_alert
    "new_webhook_secret": [],  # in create_alert_api
    "as_stored_value": ["select {{ as_stored_value('v.value') }} as value from v"],
    "create_alert_catalogue": ["{{ create_alert_catalogue() }}"],
    "create_alert_rule_checks": ["{{ create_alert_rule_checks() }}"],
    "create_alert_state_tables": ["{{ create_alert_state_tables() }}"],
    "create_alert_api": ["{{ create_alert_api() }}"],
    "grant_analytics_privileges": ["{{ grant_analytics_privileges() }}"],
    "deployed_function_oids": [],  # in grant_analytics_privileges
    "build_read_policy": [],  # in grant_analytics_privileges
    # the commands of the pg_cron jobs, as `agent-analytics cron install` schedules them
    "pg_cron_jobs": ["{% for job in pg_cron_jobs() %}{{ job['command'] }};\n{% endfor %}"],
    # macros/materializations/
    "refresh_function_ddl": ["{{ refresh_function_ddl(this, 'select * from analytics_internal.int_active_users_daily') }}"],
    # tests/dbt/generic/
    "test_accepted_range": [
        "{{ test_accepted_range(this, 'active_users', min_value=0) }}",
        "{{ test_accepted_range(this, 'bounce_rate', min_value=0, max_value=100) }}",
    ],
    "test_expression_is_true": ["{{ test_expression_is_true(this, 'successful_runs <= total_runs') }}"],
    "test_unique_combination_of_columns": [
        "{{ test_unique_combination_of_columns(this, ['metric_date', 'workspace_id']) }}",
    ],
}

# Rendered and linted, but their findings are reported apart and fail nothing (none now: a file
# whose macros do not lint clean yet is listed here by macro, with its path).
NOT_YET_LINTED: dict[str, str] = {}

# Findings not fixed yet, by macro: a ratchet. A macro fails when it has more findings than
# listed here, and when it has fewer (lower its number, or remove it when it has none). None
# now: any finding fails.
KNOWN_FINDINGS: dict[str, int] = {}

# Rules that judge what dbt renders rather than what a macro writes: RF06, dbt quotes every
# relation it renders ("database"."schema"."identifier").
RULES_OFF_FOR_RENDERED_SQL = ("RF06",)

# The models that a call needs as `this` (default: int_user_scope_days).
THIS_MODEL = {
    "create_member_function": "mv_active_users",
    "refresh_function_ddl": "mv_active_users",
    "create_aggregate_daily_metrics_function": "daily_metrics",
    "create_live_daily_functions": "daily_metrics",
    "create_live_hourly_functions": "hourly_metrics",
    "recount_total_users": "daily_metrics",
    "delete_days_without_runs": "agent_performance",
    "delete_hours_without_activity": "hourly_metrics",
    "delete_days_without_activity": "daily_metrics",
    "delete_days_nobody_counts": "int_active_users_daily",
    "delete_days_without_active_users": "active_users_daily",
}

# Macros that render no SQL of their own, and what they do instead.
RENDERS_NO_SQL = {
    "reporting_role": "returns a role name",
    "checked_var": "returns a var once it is checked",
    "event_columns": "returns a list of columns",
    "event_keys": "returns a list of columns",
    "recent_event_triggers": "returns a list of trigger names",
    "recent_load_setting": "returns a setting's name",
    "operator_readers": "returns a list of roles",
    "rollup_readers": "returns a list of roles",
    "is_backfill": "returns a boolean",
    "is_unit_test": "returns a boolean",
    "note_read_start": "runs its queries (one-line strings built in Jinja)",
    "pause_before_reading": "runs its queries (one-line strings built in Jinja)",
    "incremental_grain": "configures the model",
    "get_incremental_upsert_changed_sql": "dbt's strategy call: linted through its own call below",
    "generate_schema_name": "returns a schema name",
    "event_types": "returns a list",
    "app_columns": "returns a mapping",
    "alert_rule_columns": "returns a list",
    "alert_metrics": "returns a list",
    "alert_channels": "returns a list",
    "pipeline_steps": "returns a list",
    "pipeline_outcomes": "returns a list",
    "build_read_tables": "returns a list",
    "deployed_functions": "returns a list",
    "daily_metrics_value_columns": "returns a list",
    "deploy_steps": "returns the deploy's steps (each linted through its own macro)",
    "deploy_fingerprint": "renders a checksum",
    "deploy": "runs the deploy's steps (each linted through its own macro)",
    "deploy_script": "joins the deploy's steps (each linted through its own macro)",
    "print_deploy_script": "prints deploy_script",
    "print_pg_cron_jobs": "prints pg_cron_jobs as JSON (their commands linted through pg_cron_jobs)",
    "postgres__get_where_subquery": "returns a relation or a subquery for dbt's generic tests",
    "refreshed_table_changed": "returns a boolean (runs its queries)",
    "refresh_function_name": "returns a function name",
    "without_database_names": "returns its argument with the database left out of relation names",
    "materialization_refreshed_table_postgres": "a materialization: dbt's statements around the model's SQL",
    "finish_materialization": "runs the end of a materialization (grants, comment, post-hooks, commit)",
    "materialization_replaceable_view_postgres": "a materialization: dbt's statements around the model's SQL",
}


@dataclass
class Rendering:
    """What one call rendered under one kind of build."""

    macro: str
    build: str
    sql: str


@dataclass
class Finding:
    macro: str
    builds: list[str]
    code: str
    line: int
    position: int
    description: str
    sql: str

    def __str__(self) -> str:
        lines = self.sql.splitlines()
        shown = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        return (
            f"{self.macro} ({', '.join(self.builds)}) L{self.line}:{self.position} {self.code} {self.description}\n"
            f"    | {shown}"
        )


@dataclass
class Renderer:
    """The project parsed by dbt (no database), and model contexts to call its macros in."""

    manifest: Any
    config: Any

    @classmethod
    def parse(cls) -> Renderer:
        from dbt.adapters.factory import register_adapter
        from dbt.cli.main import dbtRunner
        from dbt.config.runtime import RuntimeConfig
        from dbt.flags import get_flags
        from dbt.mp_context import get_mp_context

        os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        with tempfile.TemporaryDirectory(prefix="macro-lint-") as scratch:
            profiles = Path(scratch)
            shutil.copyfile(PROJECT / "profiles.yml.example", profiles / "profiles.yml")
            result = dbtRunner().invoke([
                "--quiet", "parse", "--project-dir", str(PROJECT), "--profiles-dir", str(profiles),
                "--target-path", str(profiles / "target"), "--no-partial-parse",
            ])
            if not result.success:
                raise RuntimeError(f"dbt parse failed: {result.exception}")
            config = RuntimeConfig.from_args(get_flags())
        register_adapter(config, get_mp_context())
        result.result.build_flat_graph()
        return cls(result.result, config)

    def project_macros(self) -> set[str]:
        return {m.name for m in self.manifest.macros.values() if m.package_name == PACKAGE}

    def context(self, model: str, build: Build, extra_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        from agate import Table
        from dbt.context.providers import generate_runtime_model_context

        node = copy.deepcopy(self.manifest.nodes[f"model.{PACKAGE}.{model}"])
        # every model may be ref'd: dbt checks a runtime ref against the node's dependencies
        node.depends_on.nodes = [key for key in self.manifest.nodes if key.startswith("model.")]
        ctx = generate_runtime_model_context(node, self.config, self.manifest)
        real_var, real_ref = ctx["var"], ctx["ref"]
        chosen_vars = {"backfill_from": "2026-01-01", "backfill_to": "2026-01-03"} if build.backfill else {}
        chosen_vars.update(extra_vars or {})

        def var(name: str, *default: Any) -> Any:
            return chosen_vars[name] if name in chosen_vars else real_var(name, *default)

        def ref(*args: Any, **kwargs: Any) -> Any:
            return f"__dbt__cte__{args[-1]}" if build.unit_test else real_ref(*args, **kwargs)

        def run_query(sql: str) -> Any:
            for phrase, values in QUERY_ANSWERS.items():
                if phrase in sql:
                    return Table([[value] for value in values], ["value"])
            return Table([], ["value"])

        ctx.update({
            "execute": True, "is_incremental": lambda: build.incremental, "var": var, "ref": ref,
            "run_query": run_query,
        })
        return ctx

    def render(self, template: str, ctx: dict[str, Any]) -> str:
        from dbt.clients.jinja import get_rendered

        return get_rendered(template, ctx)


def renderings(renderer: Renderer) -> Iterator[Rendering]:
    """Every call of CALLS under every kind of build, then the statements given to run_query."""
    contexts: dict[tuple[str, Build], dict[str, Any]] = {}
    for macro, templates in CALLS.items():
        model = THIS_MODEL.get(macro, "int_user_scope_days")
        for build in BUILDS:
            key = (model, build)
            if key not in contexts:
                contexts[key] = renderer.context(model, build)
            for template in templates:
                yield Rendering(macro, build.name, renderer.render(template, contexts[key]))
    # upsert_changed's statements, as dbt calls the strategy
    ctx = renderer.context("int_user_scope_days", BUILDS[1])
    arg_dict = (
        "{'target_relation': this, 'temp_relation': this.incorporate(path={'identifier': 'days__dbt_tmp'}),"
        " 'unique_key': 'id', 'dest_columns': [{'name': 'id'}, {'name': 'activity_date'}, {'name': 'user_id'},"
        " {'name': 'created_at'}, {'name': 'updated_at'}]}"
    )
    yield Rendering(
        "get_incremental_upsert_changed_sql", "incremental build",
        renderer.render(f"{{{{ get_incremental_upsert_changed_sql({arg_dict}) }}}}", ctx),
    )


def lint(found: Iterator[Rendering]) -> list[Finding]:
    """sqlfluff's findings in each distinct rendering, with the project's rules."""
    from sqlfluff.core import FluffConfig, Linter

    project_config = FluffConfig.from_path(str(PROJECT))
    excluded = ",".join([*project_config.get("exclude_rules").split(","), *RULES_OFF_FOR_RENDERED_SQL])
    config = FluffConfig.from_path(
        str(PROJECT), overrides={"templater": "raw", "dialect": "postgres", "exclude_rules": excluded}
    )
    linter = Linter(config=config)
    distinct: dict[tuple[str, str], list[str]] = {}
    for rendering in found:
        sql = "\n".join(line.rstrip() for line in rendering.sql.strip().splitlines()) + "\n"
        if not sql.strip():
            continue
        distinct.setdefault((rendering.macro, sql), []).append(rendering.build)
    findings = []
    for (macro, sql), builds in distinct.items():
        linted = linter.lint_string(sql, fname=f"{macro}.sql")
        for violation in linted.get_violations():
            findings.append(Finding(
                macro, sorted(set(builds)), violation.rule_code(), violation.line_no, violation.line_pos,
                violation.desc(), sql,
            ))
    return findings


def unlisted_macros(renderer: Renderer) -> list[str]:
    """The project's macros that are neither rendered here nor said to render no SQL."""
    return sorted(renderer.project_macros() - set(CALLS) - set(RENDERS_NO_SQL))


def off_the_ratchet(findings: list[Finding]) -> list[str]:
    """Each macro whose count of findings is not its KNOWN_FINDINGS number, and why."""
    counts: dict[str, int] = {}
    for finding in findings:
        if finding.macro not in NOT_YET_LINTED:
            counts[finding.macro] = counts.get(finding.macro, 0) + 1
    problems = []
    for macro in sorted(set(counts) | set(KNOWN_FINDINGS)):
        found, known = counts.get(macro, 0), KNOWN_FINDINGS.get(macro, 0)
        if found > known:
            problems.append(f"{macro}: {found} findings, {known} known: fix the new ones")
        elif found < known:
            problems.append(f"{macro}: {found} findings, {known} known: set KNOWN_FINDINGS[{macro!r}] to {found}")
    return problems


def main() -> int:
    renderer = Renderer.parse()
    unlisted = unlisted_macros(renderer)
    if unlisted:
        print(f"macros neither rendered nor listed as rendering no SQL: {unlisted}")
        return 1
    findings = lint(renderings(renderer))
    shown = findings if "--all" in sys.argv else [f for f in findings if f.macro not in NOT_YET_LINTED]
    for finding in shown:
        print(finding)
    deferred = len([f for f in findings if f.macro in NOT_YET_LINTED])
    print(
        f"{len(findings) - deferred} findings in the SQL the macros render ({sum(KNOWN_FINDINGS.values())} known); "
        f"{deferred} more in {sorted(set(NOT_YET_LINTED.values()))}, not counted (--all shows them)"
    )
    problems = off_the_ratchet(findings)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
