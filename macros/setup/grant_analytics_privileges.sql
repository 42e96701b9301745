{% macro member_readable_tables() %}
{#- The tables members read through RLS; nothing else in the schema is granted to them. -#}
{{ return(['daily_metrics', 'hourly_metrics', 'agent_performance', 'user_cohorts',
           'user_activity', 'alert_rules', 'alert_history', 'audit_log']) }}
{% endmacro %}


{% macro grant_analytics_privileges() %}
{#-
    Step 8 of the spec's migration order, made explicit (S6): service_role ingests and runs
    maintenance; authenticated reads RLS-protected tables only; anon gets nothing.
-#}
{% set s = target.schema %}
{% for table in ['user_activity', 'alert_rules', 'alert_history', 'audit_log'] %}
{{ enable_workspace_rls(api.Relation.create(schema=s, identifier=table)) }};
{% endfor %}
revoke all on schema {{ s }} from public, anon;
revoke all on schema {{ internal_schema() }} from public, anon, authenticated, service_role;
revoke all on all tables in schema {{ s }} from public, anon, authenticated;
revoke all on all functions in schema {{ s }} from public, anon, authenticated;
grant usage on schema {{ s }} to authenticated, service_role;
grant select on all tables in schema {{ s }} to service_role;
grant insert on {{ s }}.user_activity to service_role;
grant select, insert, update, delete on {{ s }}.alert_rules, {{ s }}.alert_history to service_role;
grant select on
    {% for table in member_readable_tables() %}{{ s }}.{{ table }}{{ ', ' if not loop.last }}{% endfor %}
    to authenticated;
grant execute on function {{ s }}.member_workspace_ids() to authenticated, service_role;
grant execute on function {{ s }}.calculate_percentiles(numeric[], numeric[]) to authenticated, service_role;
grant execute on function
    {{ s }}.track_event(text, uuid, text, text, uuid, jsonb, text, timestamptz),
    {{ s }}.member_active_users(),
    {{ s }}.member_top_agents(),
    {{ s }}.member_workspace_summary()
    to authenticated, service_role;
grant execute on function
    {{ s }}.refresh_all_materialized_views(),
    {{ s }}.aggregate_daily_metrics(date, uuid),
    {{ s }}.cleanup_old_data(),
    {{ s }}.evaluate_alerts(timestamptz),
    {{ s }}.ensure_user_activity_partitions(date, date)
    to service_role;
alter default privileges in schema {{ s }} revoke execute on functions from public;
alter default privileges in schema {{ s }} grant select on tables to service_role
{% endmacro %}


{% macro create_refresh_function() %}
{#- S13: only the owner may refresh, so the function runs as the owner and only service_role may call it. -#}
create or replace function {{ target.schema }}.refresh_all_materialized_views()
returns void
language plpgsql
security definer
set search_path = ''
{#- JIT compilation costs more than these short queries take. #}
set jit = off
set work_mem = '{{ var("build_work_mem", "64MB") }}'
as $$
begin
    perform {{ target.schema }}.write_audit('refresh_all_materialized_views', null, '{}');
    refresh materialized view concurrently {{ target.schema }}.mv_active_users;
    refresh materialized view concurrently {{ target.schema }}.mv_top_agents;
    refresh materialized view concurrently {{ target.schema }}.mv_workspace_summary;
end
$$
{% endmacro %}
