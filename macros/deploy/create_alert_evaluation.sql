{% macro create_alert_evaluation() %}
{#-
    analytics.evaluate_alerts(): for every active rule, the metric over its evaluation window
    from the raw rows, compared with the threshold; a rule that fires gets an alert_history
    row (status pending, its channels as the notifications to send) and its counters moved.
    Run by service_role (a scheduler) every few minutes.
-#}
{% set s = target.schema %}
{% set app = var('app_schema') %}
create or replace function {{ s }}.evaluate_alerts(evaluated_at timestamptz default now())
returns integer
language plpgsql
volatile
security definer
{{ maintenance_function_settings() }}
as $$
declare
    rule record;
    window_start timestamptz;
    value numeric;
    fires boolean;
    fired integer := 0;
begin
    perform {{ s }}.write_audit('evaluate_alerts', null, jsonb_build_object('evaluated_at', evaluated_at));
    for rule in select * from {{ s }}.alert_rules where is_active order by id loop
        window_start := evaluated_at - make_interval(mins => coalesce(rule.evaluation_window_minutes, 5));
        value := case rule.metric_type
            when 'total_runs' then (
                select count(*) from {{ app }}.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'failed_runs' then (
                select count(*) from {{ app }}.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at and r.status = 'failed'
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'error_rate' then (
                select 100.0 * count(*) filter (where r.status = 'failed') / nullif(count(*), 0)
                from {{ app }}.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'total_credits' then (
                select coalesce(sum(r.credits_consumed), 0) from {{ app }}.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'active_users' then (
                select count(distinct a.user_id) from {{ s }}.user_activity as a
                where a.created_at >= window_start and a.created_at < evaluated_at
                  and (rule.workspace_id is null or a.workspace_id = rule.workspace_id))
            when 'avg_response_time_ms' then (
                select avg(case when (a.metadata ->> 'response_time_ms')::numeric between 0 and {{ max_response_time_ms() }}
                                then (a.metadata ->> 'response_time_ms')::numeric end)
                from {{ s }}.user_activity as a
                where a.created_at >= window_start and a.created_at < evaluated_at and a.event_type = 'api_call'
                  and jsonb_typeof(a.metadata -> 'response_time_ms') = 'number'
                  and (rule.workspace_id is null or a.workspace_id = rule.workspace_id))
            else null
        end;
        if rule.metric_type not in ('total_runs', 'failed_runs', 'error_rate', 'total_credits', 'active_users',
                                    'avg_response_time_ms') then
            raise warning 'evaluate_alerts: rule % has unknown metric_type %; skipped', rule.id, rule.metric_type;
            continue;
        end if;
        -- (a CASE inside IF's condition would end it at its first THEN)
        fires := case rule.condition
            when 'greater_than' then value > rule.threshold_value
            when 'less_than' then value < rule.threshold_value
            when 'equals' then value = rule.threshold_value
        end;
        if value is not null and fires then
            insert into {{ s }}.alert_history
                (alert_rule_id, workspace_id, triggered_at, metric_value, threshold_value, notifications_sent)
            values (rule.id, rule.workspace_id, evaluated_at,
                    {#- a value beyond the column (a huge sum) is stored as unknown, not an error for every rule #}
                    case when abs(value) < 99999999.995 then round(value, 2) end, rule.threshold_value,
                    coalesce(rule.notification_channels, '[]'::jsonb));
            update {{ s }}.alert_rules
            set last_triggered_at = evaluated_at, trigger_count = coalesce(trigger_count, 0) + 1
            where id = rule.id;
            fired := fired + 1;
        end if;
    end loop;
    return fired;
{{ log_failed_call("'evaluate_alerts'") }}
end
$$;
revoke all on function {{ s }}.evaluate_alerts(timestamptz) from public;
grant execute on function {{ s }}.evaluate_alerts(timestamptz) to service_role
{% endmacro %}
