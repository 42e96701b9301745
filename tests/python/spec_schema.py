"""The spec's analytics schema as data, with the deviations of docs/spec-deviations.md applied.

Each column is (name, type as format_type() prints it, NOT NULL, has a default).
"""

from __future__ import annotations

UUID, TSZ, INT, TEXT, JSONB, DATE = "uuid", "timestamp with time zone", "integer", "text", "jsonb", "date"
N10_2, N15_2, N5_2, N3_2 = "numeric(10,2)", "numeric(15,2)", "numeric(5,2)", "numeric(3,2)"
# Credits and revenue: the app's numeric(12,4) credits overflowed the spec's sums (docs/spec-deviations.md).
CREDIT_SUM, CREDIT_AVG = "numeric(20,2)", "numeric(14,2)"


def vc(length: int) -> str:
    return f"character varying({length})"


COLUMNS: dict[str, list[tuple[str, str, bool, bool]]] = {
    "user_activity": [
        ("id", UUID, True, True),
        ("user_id", UUID, True, False),
        ("workspace_id", UUID, False, False),
        ("event_type", vc(50), True, False),
        ("event_name", vc(100), False, False),
        ("page_path", vc(255), False, False),
        ("session_id", UUID, False, False),
        ("ip_address", "inet", False, False),
        ("user_agent", TEXT, False, False),
        ("referrer", TEXT, False, False),
        ("metadata", JSONB, False, True),
        ("created_at", TSZ, True, True),  # NOT NULL: the partition key (S12)
        ("ingested_at", TSZ, True, True),  # added: what incremental builds take in
    ],
    "daily_metrics": [
        ("id", UUID, True, True),
        ("metric_date", DATE, True, False),
        ("workspace_id", UUID, False, False),
        ("total_users", INT, False, True),
        ("active_users", INT, False, True),
        ("new_users", INT, False, True),
        ("returning_users", INT, False, True),
        ("total_sessions", INT, False, True),
        ("avg_session_duration_seconds", N10_2, False, False),
        ("bounce_rate", N5_2, False, False),
        ("total_runs", INT, False, True),
        ("successful_runs", INT, False, True),
        ("failed_runs", INT, False, True),
        ("cancelled_runs", INT, False, True),
        ("avg_runtime_seconds", N10_2, False, False),
        ("median_runtime_seconds", N10_2, False, False),
        ("p95_runtime_seconds", N10_2, False, False),
        ("p99_runtime_seconds", N10_2, False, False),
        ("total_credits_consumed", CREDIT_SUM, False, True),
        ("avg_credits_per_run", CREDIT_AVG, False, False),
        ("credits_by_model", JSONB, False, True),
        ("unique_agents_run", INT, False, True),
        ("top_agents", JSONB, False, True),
        ("total_errors", INT, False, True),
        ("error_rate", N5_2, False, False),
        ("errors_by_type", JSONB, False, True),
        ("created_at", TSZ, True, True),
        ("updated_at", TSZ, True, True),
    ],
    "hourly_metrics": [
        ("id", UUID, True, True),
        ("metric_hour", TSZ, True, False),
        ("workspace_id", UUID, False, False),
        ("active_users", INT, False, True),
        ("total_runs", INT, False, True),
        ("successful_runs", INT, False, True),
        ("failed_runs", INT, False, True),
        ("total_credits", CREDIT_SUM, False, True),
        ("avg_response_time_ms", INT, False, False),
        ("p95_response_time_ms", INT, False, False),
        ("created_at", TSZ, True, True),
    ],
    "agent_performance": [
        ("id", UUID, True, True),
        ("agent_id", UUID, True, False),
        ("metric_date", DATE, True, False),
        ("workspace_id", UUID, False, False),
        ("total_runs", INT, False, True),
        ("successful_runs", INT, False, True),
        ("failed_runs", INT, False, True),
        ("cancelled_runs", INT, False, True),
        ("avg_runtime_seconds", N10_2, False, False),
        ("min_runtime_seconds", N10_2, False, False),
        ("max_runtime_seconds", N10_2, False, False),
        ("p50_runtime_seconds", N10_2, False, False),
        ("p75_runtime_seconds", N10_2, False, False),
        ("p95_runtime_seconds", N10_2, False, False),
        ("p99_runtime_seconds", N10_2, False, False),
        ("total_credits", CREDIT_SUM, False, True),
        ("avg_credits_per_run", CREDIT_AVG, False, False),
        ("total_tokens_used", "bigint", False, True),  # S15: integer overflows
        ("avg_tokens_per_run", INT, False, False),
        ("unique_users", INT, False, True),
        ("avg_user_rating", N3_2, False, False),
        ("total_feedback_count", INT, False, True),
        ("error_types", JSONB, False, True),
        ("common_failure_reasons", JSONB, False, True),
        ("created_at", TSZ, True, True),
        ("updated_at", TSZ, True, True),
    ],
    "user_cohorts": [
        ("id", UUID, True, True),
        ("cohort_period", vc(20), True, False),
        ("cohort_date", DATE, True, False),
        ("workspace_id", UUID, False, False),
        ("initial_users", INT, True, False),
        ("retention_data", JSONB, True, False),
        ("ltv_estimate", CREDIT_SUM, False, False),
        ("avg_revenue_per_user", CREDIT_SUM, False, False),
        ("churn_rate", N5_2, False, False),
        ("created_at", TSZ, True, True),
        ("updated_at", TSZ, True, True),
    ],
    "alert_rules": [
        ("id", UUID, True, True),
        ("workspace_id", UUID, False, False),
        ("name", vc(255), True, False),
        ("description", TEXT, False, False),
        ("is_active", "boolean", False, True),
        ("metric_type", vc(50), True, False),
        ("condition", vc(20), True, False),
        ("threshold_value", N10_2, True, False),
        ("evaluation_window_minutes", INT, False, True),
        ("notification_channels", JSONB, False, True),
        ("notification_recipients", JSONB, False, True),
        ("last_triggered_at", TSZ, False, False),
        ("trigger_count", INT, False, True),
        ("created_at", TSZ, True, True),
        ("updated_at", TSZ, True, True),
        ("created_by", UUID, False, False),
        # added (docs/alerts.md): how long the condition holds before it fires, where it resolves,
        # how often a firing alert is sent again, a silence
        ("pending_minutes", INT, True, True),
        ("recovery_threshold", N10_2, False, False),
        ("renotify_minutes", INT, False, False),
        ("silenced_until", TSZ, False, False),
    ],
    "alert_history": [
        ("id", UUID, True, True),
        ("alert_rule_id", UUID, False, False),
        ("workspace_id", UUID, False, False),
        ("triggered_at", TSZ, True, True),
        ("metric_value", N10_2, False, False),
        ("threshold_value", N10_2, False, False),
        ("notifications_sent", JSONB, False, True),
        ("notification_status", vc(20), False, True),
        ("acknowledged_by", UUID, False, False),
        ("acknowledged_at", TSZ, False, False),
        ("notes", TEXT, False, False),
        # added: one row per firing episode, closed when it resolves
        ("state", vc(20), True, True),
        ("resolved_at", TSZ, False, False),
        ("resolved_value", N10_2, False, False),
        ("last_notified_at", TSZ, False, False),
    ],
}

# Constraint name -> (contype, the fragment its definition must contain)
CONSTRAINTS: dict[str, dict[str, tuple[str, str]]] = {
    "user_activity": {
        "user_activity_pkey": ("p", "PRIMARY KEY (id, created_at)"),
        "valid_event_type": ("c", "'report_view'"),
        "user_activity_user_id_fkey": ("f", "REFERENCES users(id) ON DELETE CASCADE"),
        "user_activity_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
    },
    "daily_metrics": {
        "daily_metrics_pkey": ("p", "PRIMARY KEY (id)"),
        "unique_daily_metric": ("u", "UNIQUE NULLS NOT DISTINCT (metric_date, workspace_id)"),
        "daily_metrics_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
    },
    "hourly_metrics": {
        "hourly_metrics_pkey": ("p", "PRIMARY KEY (id)"),
        "unique_hourly_metric": ("u", "UNIQUE NULLS NOT DISTINCT (metric_hour, workspace_id)"),
        "hourly_metrics_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
    },
    "agent_performance": {
        "agent_performance_pkey": ("p", "PRIMARY KEY (id)"),
        "unique_agent_performance": ("u", "UNIQUE (agent_id, metric_date)"),
        "agent_performance_agent_id_fkey": ("f", "REFERENCES agents(id) ON DELETE CASCADE"),
        "agent_performance_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
    },
    "user_cohorts": {
        "user_cohorts_pkey": ("p", "PRIMARY KEY (id)"),
        "unique_cohort": ("u", "UNIQUE NULLS NOT DISTINCT (cohort_period, cohort_date, workspace_id)"),
        "user_cohorts_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
        "user_cohorts_cohort_period_check": ("c", "'monthly'"),
    },
    "alert_rules": {
        "alert_rules_pkey": ("p", "PRIMARY KEY (id)"),
        "alert_rules_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
        "alert_rules_created_by_fkey": ("f", "REFERENCES users(id) ON DELETE SET NULL"),
        "alert_rules_condition_check": ("c", "'greater_than'"),
    },
    "alert_history": {
        "alert_history_pkey": ("p", "PRIMARY KEY (id)"),
        "alert_history_alert_rule_id_fkey": ("f", "REFERENCES analytics.alert_rules(id) ON DELETE CASCADE"),
        "alert_history_workspace_id_fkey": ("f", "REFERENCES workspaces(id) ON DELETE CASCADE"),
        "alert_history_acknowledged_by_fkey": ("f", "REFERENCES users(id) ON DELETE SET NULL"),
        "alert_history_notification_status_check": ("c", "'pending'"),
    },
}

# Index name -> fragment of pg_get_indexdef() it must contain.
INDEXES: dict[str, dict[str, str]] = {
    "user_activity": {
        "idx_user_activity_user_time": "(user_id, created_at DESC)",
        "idx_user_activity_workspace_time": "(workspace_id, created_at DESC)",
        "idx_user_activity_session": "(session_id)",
        "idx_user_activity_composite": "(workspace_id, user_id, created_at DESC)",
    },
    "daily_metrics": {
        "idx_daily_metrics_workspace": "(workspace_id, metric_date DESC)",
    },
    "hourly_metrics": {
        "idx_hourly_metrics_workspace": "(workspace_id, metric_hour DESC)",
    },
    "agent_performance": {
        "idx_agent_performance_date": "(metric_date DESC)",
        "idx_agent_performance_composite": "(workspace_id, metric_date DESC, total_runs DESC)",
    },
    "user_cohorts": {
        "idx_user_cohorts_date": "(cohort_date DESC)",
        "idx_user_cohorts_workspace": "(workspace_id, cohort_date DESC)",
    },
    "alert_rules": {
        "idx_alert_rules_workspace": "(workspace_id)",
        "idx_alert_rules_active": "WHERE (is_active = true)",
    },
    "alert_history": {
        "idx_alert_history_rule": "(alert_rule_id, triggered_at DESC)",
        "idx_alert_history_workspace": "(workspace_id, triggered_at DESC)",
    },
    "mv_active_users": {"idx_mv_active_users": "UNIQUE INDEX idx_mv_active_users ON analytics.mv_active_users USING btree (activity_date, workspace_id)"},
    "mv_top_agents": {
        "idx_mv_top_agents": "UNIQUE INDEX idx_mv_top_agents ON analytics.mv_top_agents USING btree (agent_id)",
        "idx_mv_top_agents_workspace": "(workspace_id, total_runs_30d)",
    },
    "mv_workspace_summary": {"idx_mv_workspace_summary": "UNIQUE INDEX idx_mv_workspace_summary ON analytics.mv_workspace_summary USING btree (workspace_id)"},
}

# Spec indexes left out (docs/spec-deviations.md): index -> what serves its queries instead.
DROPPED_INDEXES: dict[str, str] = {
    "idx_user_activity_metadata": "idx_user_activity_workspace_time (metadata queries are bounded by workspace and time)",
    "idx_user_activity_created_at_brin": "the weekly partitions by created_at (a window opens only its weeks)",
    "idx_user_activity_event_type": "idx_user_activity_workspace_time (no query here leads with the event type)",
    "idx_daily_metrics_date": "unique_daily_metric (metric_date, workspace_id)",
    "idx_daily_metrics_date_brin": "unique_daily_metric (metric_date, workspace_id)",
    "idx_hourly_metrics_hour": "unique_hourly_metric (metric_hour, workspace_id)",
    "idx_agent_performance_agent": "unique_agent_performance (agent_id, metric_date)",
    "idx_agent_performance_workspace": "idx_agent_performance_composite (workspace_id, metric_date DESC, total_runs DESC)",
}

MATERIALIZED_VIEW_COLUMNS: dict[str, list[str]] = {
    "mv_active_users": ["activity_date", "workspace_id", "daily_active_users", "weekly_active_users", "monthly_active_users"],
    "mv_top_agents": [
        "agent_id", "agent_name", "workspace_id", "total_runs_30d", "successful_runs_30d", "success_rate",
        "avg_runtime", "median_runtime", "total_credits_30d", "unique_users_30d", "last_run_at",
    ],
    "mv_workspace_summary": [
        "workspace_id", "workspace_name", "total_members", "total_agents", "total_runs_30d", "total_credits_30d",
        "avg_runtime_30d", "active_users_30d",
    ],
}

# The spec's functions (with their argument types) and the ones this project adds.
FUNCTIONS = {
    "refresh_all_materialized_views": "",
    "calculate_percentiles": '"values" numeric[], percentiles numeric[]',
    "aggregate_daily_metrics": "target_date date, target_workspace_id uuid DEFAULT NULL::uuid",
    "cleanup_old_data": "",
    "update_updated_at": "",
    "ensure_user_activity_partitions": "first_day date, last_day date",
    "member_workspace_ids": "",
    "track_event": (
        "event_type text, workspace_id uuid DEFAULT NULL::uuid, event_name text DEFAULT NULL::text, "
        "page_path text DEFAULT NULL::text, session_id uuid DEFAULT NULL::uuid, metadata jsonb DEFAULT '{}'::jsonb, "
        "referrer text DEFAULT NULL::text, occurred_at timestamp with time zone DEFAULT NULL::timestamp with time zone"
    ),
    "member_active_users": "",
    "member_top_agents": "",
    "member_workspace_summary": "",
    "write_audit": "action text, workspace_id uuid, details jsonb",
    "audit_alert_rule_change": "",
    "evaluate_alerts": "evaluated_at timestamp with time zone DEFAULT now()",
    "refresh_live_metrics": "",
}

# Every table with updated_at has the trigger (S10).
UPDATED_AT_TRIGGERS = {
    "daily_metrics": "update_daily_metrics_updated_at",
    "agent_performance": "update_agent_performance_updated_at",
    "user_cohorts": "update_user_cohorts_updated_at",
    "alert_rules": "update_alert_rules_updated_at",
    # ours, beyond the spec (docs/bi.md)
    "model_usage_daily": "update_model_usage_daily_updated_at",
    "event_usage_daily": "update_event_usage_daily_updated_at",
    "active_users_daily": "update_active_users_daily_updated_at",
}

RLS_TABLES = (
    "daily_metrics", "hourly_metrics", "agent_performance", "user_cohorts", "user_activity", "alert_rules",
    "alert_history", "audit_log",
)
