{% macro deployed_functions() %}
{#- The deploy's functions in the analytics schema, with their argument types. -#}
{{ return([
    'update_updated_at()', 'calculate_percentiles(numeric array, numeric array)', 'member_workspace_ids()',
    'ensure_user_activity_partitions(date, date)', 'cleanup_old_data()', 'write_audit(text, uuid, jsonb)',
    'audit_alert_rule_change()', 'track_event(text, uuid, text, text, uuid, jsonb, text, timestamptz)',
    'refresh_all_materialized_views()', 'evaluate_alerts(timestamptz)', 'client_address(text, integer)',
    'request_headers()', 'stamp_ingested_at()', 'refuse_audit_change()', 'without_secrets(jsonb)',
    'alert_rule_recipients(uuid)', 'erase_user(uuid)', 'alert_rule_targets(jsonb, jsonb)', 'check_alert_rule()',
    'webhook_secret(uuid)', 'rotate_webhook_secret(uuid)', 'acknowledge_alert(uuid, text)',
    'credit_price_usd()', 'set_credit_price_usd(numeric)', 'set_track_event_limit(integer)',
]) }}
{% endmacro %}


{% macro build_read_tables() %}
{#- The tables the app writes that the build reads (dbt sources; user_activity_recent for its
    data test and freshness only). -#}
{{ return(['user_activity', 'user_activity_recent', 'alert_rules', 'alert_history']) }}
{% endmacro %}


{% macro build_read_policy() -%}
build_role_reads_all
{%- endmacro %}


{% macro deployed_function_oids() -%}
{%- for f in deployed_functions() %}to_regprocedure('{{ target.schema }}.{{ f }}'){{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}


{% macro alert_rule_columns() %}
{{ return(['id', 'workspace_id', 'name', 'description', 'is_active', 'metric_type', 'condition', 'threshold_value',
           'evaluation_window_minutes', 'notification_channels', 'notification_recipients', 'last_triggered_at',
           'trigger_count', 'created_at', 'updated_at', 'created_by']) }}
{% endmacro %}


{% macro grant_analytics_privileges() %}
{#-
    Step 8 of the spec's migration order, made explicit (S6): service_role ingests and runs
    maintenance; authenticated reads RLS-protected tables only; anon gets nothing. The build
    role gets what building needs and no more. The models' own grants are their `grants`
    config (dbt_project.yml), applied by the build role, which owns them.
-#}
{% set s = target.schema %}
{% set role = build_role() %}
{%- for table in ['user_activity', 'user_activity_recent', 'alert_rules', 'alert_history', 'audit_log', 'alert_rule_states'] %}
{{ enable_workspace_rls(api.Relation.create(schema=s, identifier=table), reporting=false) }};
{%- endfor %}
{#- notification targets and signing keys: no API role but service_role (which bypasses RLS)
    reads them, whatever is granted later; the policy says so where a linter looks #}
{%- for table in ['alert_notifications', 'webhook_secrets'] %}
alter table {{ s }}.{{ table }} enable row level security;
drop policy if exists service_role_only on {{ s }}.{{ table }};
create policy service_role_only on {{ s }}.{{ table }} as restrictive for all to anon, authenticated
using (false) with check (false);
{%- endfor %}
{#- The build role reads these tables whole: it is not their owner, so without a policy of its
    own RLS would show it no rows, without an error. #}
{%- for table in build_read_tables() %}
drop policy if exists {{ build_read_policy() }} on {{ s }}.{{ table }};
create policy {{ build_read_policy() }} on {{ s }}.{{ table }} for select to {{ role }} using (true);
{%- endfor %}
{{ claim_for_owner('function', "select p.oid::regprocedure::text as name, p.proowner as owner from pg_catalog.pg_proc as p
    where p.oid = any(array[" ~ deployed_function_oids() ~ "])") }};
revoke all on schema {{ s }} from public, anon;
grant usage on schema {{ s }} to authenticated, service_role;
revoke all on schema {{ internal_schema() }} from public, anon, authenticated, service_role;
revoke all on {{ s }}.user_activity, {{ s }}.user_activity_recent, {{ s }}.alert_rules, {{ s }}.alert_history,
{{ s }}.audit_log, {{ s }}.alert_metrics, {{ s }}.alert_rule_states, {{ s }}.alert_notifications,
{{ s }}.webhook_secrets
from public, anon, authenticated, service_role;
grant select, insert on {{ s }}.user_activity to service_role;
grant select on {{ s }}.user_activity_recent to service_role;
grant select, insert, update, delete on {{ s }}.alert_rules, {{ s }}.alert_history to service_role;
grant select on {{ s }}.audit_log to service_role;
{#- the dispatcher (agent-analytics alerts run) may log in as a service_role member: it reads
    what is due and records each attempt; members see states, never targets or secrets #}
grant select, update on {{ s }}.alert_notifications to service_role;
grant select on {{ s }}.alert_metrics, {{ s }}.alert_rule_states, {{ s }}.webhook_secrets to service_role;
grant select on {{ s }}.alert_metrics, {{ s }}.alert_rule_states to authenticated;
grant select on {{ s }}.user_activity, {{ s }}.user_activity_recent, {{ s }}.alert_history, {{ s }}.audit_log
to authenticated;
{#- Members read their rules without the notification targets (webhook URLs carry secrets);
    owners and admins read those through alert_rule_recipients(). #}
grant select (
    {%- for column in alert_rule_columns() if column != 'notification_recipients' %}
    {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
) on {{ s }}.alert_rules to authenticated;
grant select on {% for table in build_read_tables() %}{{ s }}.{{ table }}{{ ',\n' if not loop.last }}{% endfor %}
to {{ role }};
{%- for f in deployed_functions() %}
revoke all on function {{ s }}.{{ f }}
from public, anon, authenticated, service_role;
{%- endfor %}
grant execute on function {{ s }}.member_workspace_ids() to authenticated, service_role, {{ role }};
grant execute on function {{ s }}.calculate_percentiles(numeric array, numeric array) to authenticated, service_role;
grant execute on function {{ s }}.client_address(text, integer) to service_role;
grant execute on function {{ s }}.track_event(text, uuid, text, text, uuid, jsonb, text, timestamptz)
to authenticated, service_role;
grant execute on function {{ s }}.alert_rule_recipients(uuid) to authenticated, service_role;
{#- the reporting relations' money columns read the price as their caller (docs/bi.md) #}
grant execute on function {{ s }}.credit_price_usd() to authenticated, service_role, {{ reporting_role() }};
grant execute on function {{ s }}.set_credit_price_usd(numeric) to service_role;
grant execute on function {{ s }}.set_track_event_limit(integer) to service_role;
grant execute on function {{ s }}.acknowledge_alert(uuid, text) to authenticated, service_role;
{#- a rule's checks run as its writer #}
grant execute on function {{ s }}.alert_rule_targets(jsonb, jsonb) to authenticated, service_role;
{%- for f in ['refresh_all_materialized_views()', 'cleanup_old_data()', 'evaluate_alerts(timestamptz)',
              'webhook_secret(uuid)', 'rotate_webhook_secret(uuid)',
              'ensure_user_activity_partitions(date, date)', 'erase_user(uuid)'] %}
grant execute on function {{ s }}.{{ f }} to service_role;
{%- endfor %}
{#- the build keeps partitions ready, gives its tables the updated_at trigger, audits
    aggregate_daily_metrics(), which it makes with daily_metrics, and its failed calls, and
    prices the cohorts' revenue #}
{%- for f in [s ~ '.ensure_user_activity_partitions(date, date)', s ~ '.update_updated_at()',
              s ~ '.credit_price_usd()',
              s ~ '.write_audit(text, uuid, jsonb)', internal_schema() ~ '.log_failed_call(text, text, text)',
              internal_schema() ~ '.oldest_open_transaction_start()'] %}
grant execute on function {{ f }} to {{ role }};
{%- endfor %}
alter default privileges in schema {{ s }} revoke execute on functions from public;
alter default privileges for role {{ role }} in schema {{ s }} revoke execute on functions from public;
alter default privileges for role {{ role }} in schema {{ internal_schema() }} revoke execute on functions from public
{% endmacro %}
