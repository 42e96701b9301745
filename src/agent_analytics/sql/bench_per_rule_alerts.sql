-- The alert evaluation as it was before the one-pass evaluation (agent-analytics 0.1, up to
-- fdb2d62): every active rule on its own, with its own scans of the raw tables. The benchmark
-- creates it in schema naive and times it beside analytics.evaluate_alerts() on the same rules
-- (copied into naive.alert_rules), writing into naive.alert_history so that ours is left as it was.
create or replace function naive.evaluate_alerts_per_rule(evaluated_at timestamptz default now())
returns integer
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
    rule record;
    window_start timestamptz;
    value numeric;
    fires boolean;
    fired integer := 0;
begin
    for rule in select * from naive.alert_rules where is_active order by id loop
        window_start := evaluated_at - make_interval(mins => coalesce(rule.evaluation_window_minutes, 5));
        value := case rule.metric_type
            when 'total_runs' then (
                select count(*) from public.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'failed_runs' then (
                select count(*) from public.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at and r.status = 'failed'
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'error_rate' then (
                select 100.0 * count(*) filter (where r.status = 'failed') / nullif(count(*), 0)
                from public.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'total_credits' then (
                select coalesce(sum(r.credits_consumed), 0) from public.agent_runs as r
                where r.started_at >= window_start and r.started_at < evaluated_at
                  and (rule.workspace_id is null or r.workspace_id = rule.workspace_id))
            when 'active_users' then (
                select count(distinct a.user_id) from analytics.user_activity as a
                where a.created_at >= window_start and a.created_at < evaluated_at
                  and (rule.workspace_id is null or a.workspace_id = rule.workspace_id))
            when 'avg_response_time_ms' then (
                select avg(case when (a.metadata ->> 'response_time_ms')::numeric between 0 and 86400000
                                then (a.metadata ->> 'response_time_ms')::numeric end)
                from analytics.user_activity as a
                where a.created_at >= window_start and a.created_at < evaluated_at and a.event_type = 'api_call'
                  and jsonb_typeof(a.metadata -> 'response_time_ms') = 'number'
                  and (rule.workspace_id is null or a.workspace_id = rule.workspace_id))
        end;
        if rule.metric_type not in ('total_runs', 'failed_runs', 'error_rate', 'total_credits', 'active_users',
                                    'avg_response_time_ms') then
            continue;
        end if;
        fires := case rule.condition
            when 'greater_than' then value > rule.threshold_value
            when 'less_than' then value < rule.threshold_value
            when 'equals' then value = rule.threshold_value
        end;
        if value is not null and fires then
            insert into naive.alert_history
                (alert_rule_id, workspace_id, triggered_at, metric_value, threshold_value, notifications_sent)
            values (rule.id, rule.workspace_id, evaluated_at,
                    case when abs(value) < 99999999.995 then round(value, 2) end, rule.threshold_value,
                    coalesce(rule.notification_channels, '[]'::jsonb));
            fired := fired + 1;
        end if;
    end loop;
    return fired;
end
$$;
