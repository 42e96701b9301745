{% macro create_alert_evaluation() %}
{#-
    analytics.evaluate_alerts(evaluated_at): every active rule in one pass (docs/alerts.md).
    Each source (runs, events, arrivals, the pipeline's runs) is read once, for the longest window its rules use:
    each row counted once, in the narrowest of the windows that hold it, and each window then
    summed from its own and the narrower ones, per workspace and for the platform; each rule then takes
    its value, moves its state (ok → pending → firing → ok) and, when it fires, resolves or is
    due again, its alert_history episode and the notifications to deliver are written.
    Reads the build's views (stg_analytics__user_activity, int_agent_runs), so that a value the
    build neutralizes is neutralized here too. Run by service_role (agent-analytics alerts run)
    every minute; returns how many rules fired.
-#}
{% set s = target.schema %}
{% set app = var('app_schema') %}
{% set work = internal_schema() %}
{{ create_alert_work_tables() | trim }};

create or replace function {{ s }}.evaluate_alerts(evaluated_at timestamptz default now())
returns integer
language plpgsql
volatile
security definer
{{ maintenance_function_settings() }}
{#- Planned for this call's bounds (a generic plan guesses a day's rows as a few hundred), and
    hashed: the staging view's plausibility bounds compare two columns, so even then the
    planner expects a tenth of a day's rows and sorts them all, where a few thousand groups
    hash in a fraction of the time. #}
set plan_cache_mode = force_custom_plan
set enable_sort = off
as $$
declare
    fired integer;
    skipped integer;
    {#- the windows of one source, widest first, as offsets back from evaluated_at #}
    bounds interval [];
    user_bounds interval [];
begin
    {#- a state_since or an episode at no time, or at infinity, would hold its rule there for good #}
    if evaluated_at is null or not isfinite(evaluated_at) then
        raise exception 'evaluate_alerts: evaluated_at must be a finite time, not %', coalesce(evaluated_at::text, 'NULL')
            using errcode = '22023';
    end if;
    {#- two evaluations at once would open the same episode twice #}
    perform pg_advisory_xact_lock(hashtext('agent-analytics evaluate_alerts'));
    perform {{ s }}.write_audit('evaluate_alerts', null, jsonb_build_object('evaluated_at', evaluated_at));
    if to_regclass('{{ internal_schema() }}.int_agent_runs') is null
        or to_regclass('{{ internal_schema() }}.stg_analytics__user_activity') is null then
        raise exception 'evaluate_alerts: the analytics models are not built yet; run agent-analytics build first'
            using errcode = '55000';
    end if;

    truncate {{ work }}.alert_windows, {{ work }}.alert_values, {{ work }}.alert_outcomes;

    {#- Each family of metrics that some rule watches, read with the aggregate that suits it:
        sums and counts hashed together, distinct users and the percentile on their own. #}
    insert into {{ work }}.alert_windows
    select distinct
        case r.metric_type
            when 'active_users' then 'users'
            when 'p95_response_time_ms' then 'p95'
            else m.source
        end,
        r.evaluation_window_minutes,
        make_interval(mins => r.evaluation_window_minutes)
    from {{ s }}.alert_rules as r
    inner join {{ s }}.alert_metrics as m on r.metric_type = m.metric_type
    where r.is_active and r.evaluation_window_minutes between 1 and 1440;

    {{ insert_alert_values('runs', internal_schema() ~ '.int_agent_runs', 'started_at', {
        'runs': 'count(*)',
        'failed': 'count(*) filter (where source_rows.is_failed)',
        'credits': 'sum(source_rows.credits_consumed)',
        'seconds': 'sum(source_rows.runtime_seconds)',
        'timed': 'count(source_rows.runtime_seconds)',
    }, [
        ['total_runs', 'runs'],
        ['failed_runs', 'failed'],
        ['error_rate', '100.0 * failed / nullif(runs, 0)'],
        ['total_credits', 'credits'],
        ['avg_run_seconds', 'seconds / nullif(timed, 0)'],
    ]) | indent(4) }}

    {#- The events, read once for two families, per workspace, user and bucket: summed per
        bucket, and each user's last event in each workspace and over all. A user is active in a window when their last
        event before evaluated_at falls in it: one hashed pass over the users instead of a
        distinct count sorted per window and workspace. #}
    bounds := {{ alert_window_bounds('events') }};
    user_bounds := {{ alert_window_bounds('users') }};
    if cardinality(bounds) > 0 or cardinality(user_bounds) > 0 then
        with read as materialized (
            select
                source_rows.workspace_id,
                source_rows.user_id,
                width_bucket(source_rows.created_at - evaluated_at, bounds) as bucket,
                sum(source_rows.response_time_ms) as response_ms,
                count(source_rows.response_time_ms) as responses,
                count(*) filter (where source_rows.event_type = 'error') as errors,
                max(source_rows.created_at) as last_at
            from {{ internal_schema() }}.stg_analytics__user_activity as source_rows
            where
                source_rows.created_at >= evaluated_at + least(bounds[1], user_bounds[1])
                and source_rows.created_at < evaluated_at
            group by 1, 2, 3
        ),

        buckets as (
            select
                read.workspace_id,
                read.bucket,
                sum(read.response_ms) as response_ms,
                sum(read.responses) as responses,
                sum(read.errors) as errors
            from read
            group by 1, 2
        ),

        active_users as (
            insert into {{ work }}.alert_values
            select w.minutes, seen.workspace_id, seen.is_platform, 'active_users', sum(seen.users)
            from (
                select last_seen.workspace_id, last_seen.is_platform, last_seen.bucket, count(*) as users
                from (
                    select
                        read.workspace_id,
                        grouping(read.workspace_id) = 1 as is_platform,
                        width_bucket(max(read.last_at) - evaluated_at, user_bounds) as bucket
                    from read
                    where read.user_id is not null
                    group by grouping sets ((read.workspace_id, read.user_id), (read.user_id))
                ) as last_seen
                group by 1, 2, 3
            ) as seen
            {{ alert_windows_of('seen', 'user_bounds') | indent(12) }}
            group by w.minutes, seen.workspace_id, seen.is_platform
        )

        {{ insert_windowed_values({'response_ms': 'sum', 'responses': 'sum', 'errors': 'sum'}, [
            ['avg_response_time_ms', 'response_ms / nullif(responses, 0)'],
            ['errors', 'errors'],
        ]) | indent(8) }};
    end if;

    {#- a percentile does not add up from narrower windows: each window's rows are sorted whole #}
    bounds := {{ alert_window_bounds('p95') }};
    if cardinality(bounds) > 0 then
        insert into {{ work }}.alert_values
        select w.minutes, source_rows.workspace_id, grouping(source_rows.workspace_id) = 1, 'p95_response_time_ms',
            percentile_cont(0.95) within group (order by source_rows.response_time_ms)
        from {{ internal_schema() }}.stg_analytics__user_activity as source_rows
        inner join {{ work }}.alert_windows as w
            on w.source = 'p95' and source_rows.created_at >= evaluated_at - w.span
        where
            source_rows.created_at >= evaluated_at + bounds[1]
            and source_rows.created_at < evaluated_at
            and source_rows.response_time_ms is not null
        group by grouping sets ((w.minutes, source_rows.workspace_id), (w.minutes));
    end if;

    {#- the outer bounds reach each branch of the union (and its index) #}
    {{ insert_alert_values('arrivals', '(
    select events.workspace_id, events.ingested_at as arrived_at
    from ' ~ internal_schema() ~ '.stg_analytics__user_activity as events
    union all
    select runs.workspace_id, runs.updated_at
    from ' ~ internal_schema() ~ '.int_agent_runs as runs
)', 'arrived_at', {'arrived': 'count(*)'}, [['no_data', 'arrived']]) | indent(4) }}

    {#- The pipeline's own health, for platform rules: how long the oldest row no build has
        taken in has waited (whatever the window), and the worker's steps that failed. #}
    if exists (select from {{ work }}.alert_windows as w where w.source = 'lag') then
        insert into {{ work }}.alert_values
        select w.minutes, null, true, 'pipeline_lag_minutes', coalesce(
            greatest(0, extract(epoch from evaluated_at - least(lag.oldest_pending_event_at, lag.oldest_pending_run_at)))
            / 60,
            0
        )
        from {{ work }}.alert_windows as w
        cross join {{ s }}.pipeline_lag as lag
        where w.source = 'lag';
    end if;

    {{ insert_alert_values('pipeline', '(
    select null::uuid as workspace_id, runs.ended_at
    from ' ~ s ~ ".pipeline_runs as runs
    where runs.outcome in ('failed', 'abandoned')
)", 'ended_at', {'failures': 'count(*)'}, [['pipeline_failures', 'failures']]) | indent(4) }}

    {#- Each active rule: its value, whether its condition holds, whether it has recovered,
        and the state it moves to. A rule without a value (an average over nothing) neither
        holds nor recovers: a firing rule stays firing until a value says otherwise. #}
    insert into {{ work }}.alert_outcomes
        (alert_rule_id, workspace_id, value, state_since, new_state, open_alert_id, event, silenced)
    with rules as (
        select r.*, m.zero_when_empty
        from {{ s }}.alert_rules as r
        inner join {{ s }}.alert_metrics as m on r.metric_type = m.metric_type
        where r.is_active and r.evaluation_window_minutes between 1 and 1440
    ),

    valued as (
        select
            rules.*,
            coalesce(v.value, case when rules.zero_when_empty then 0 end) as value
        from rules
        {#- an equality on the scope, which hashes: an "or" here joined each rule to every workspace #}
        left join {{ work }}.alert_values as v
            on
                v.metric_type = rules.metric_type
                and v.minutes = rules.evaluation_window_minutes
                and v.is_platform = (rules.workspace_id is null)
                and coalesce(v.workspace_id, {{ platform_scope_id() }})
                = coalesce(rules.workspace_id, {{ platform_scope_id() }})
    ),

    judged as (
        select
            valued.*,
            st.state as old_state,
            st.state_since as old_state_since,
            open_alert.id as open_alert_id,
            open_alert.triggered_at as open_since,
            open_alert.last_notified_at,
            open_alert.acknowledged_at,
            coalesce(case valued.condition
                when 'greater_than' then valued.value > valued.threshold_value
                when 'less_than' then valued.value < valued.threshold_value
                when 'equals' then valued.value = valued.threshold_value
            end, false) as holds,
            coalesce(case valued.condition
                when 'greater_than' then valued.value <= coalesce(valued.recovery_threshold, valued.threshold_value)
                when 'less_than' then valued.value >= coalesce(valued.recovery_threshold, valued.threshold_value)
                when 'equals' then valued.value <> valued.threshold_value
            end, false) as recovered
        from valued
        left join {{ s }}.alert_rule_states as st on valued.id = st.alert_rule_id
        left join {{ s }}.alert_history as open_alert
            on valued.id = open_alert.alert_rule_id and open_alert.state = 'firing'
    ),

    moved as (
        select
            judged.*,
            case
                when judged.open_alert_id is not null and judged.recovered then 'ok'
                when judged.open_alert_id is not null then 'firing'
                when not judged.holds then 'ok'
                when
                    evaluated_at - make_interval(mins => judged.pending_minutes)
                    >= case when judged.old_state = 'pending' then judged.old_state_since else evaluated_at end
                    then 'firing'
                else 'pending'
            end as new_state
        from judged
    )

    select
        moved.id,
        moved.workspace_id,
        moved.value,
        case when moved.old_state is distinct from moved.new_state then evaluated_at else moved.old_state_since end,
        moved.new_state,
        moved.open_alert_id,
        case
            when moved.open_alert_id is null and moved.new_state = 'firing' then 'firing'
            when moved.open_alert_id is not null and moved.new_state = 'ok' then 'resolved'
            when
                moved.open_alert_id is not null and moved.acknowledged_at is null and moved.renotify_minutes is not null
                and evaluated_at >= coalesce(moved.last_notified_at, moved.open_since)
                + make_interval(mins => moved.renotify_minutes)
                then 'renotify'
        end,
        coalesce(moved.silenced_until > evaluated_at, false)
    from moved;

    get diagnostics skipped = row_count;
    skipped := (select count(*) from {{ s }}.alert_rules as r where r.is_active) - skipped;
    if skipped > 0 then
        raise warning 'evaluate_alerts: % active rules have a metric_type or window outside the catalogue and were skipped',
            skipped;
    end if;

    insert into {{ s }}.alert_rule_states as st
        (alert_rule_id, workspace_id, state, state_since, last_value, changed_at)
    select o.alert_rule_id, o.workspace_id, o.new_state, o.state_since, o.value, evaluated_at
    from {{ work }}.alert_outcomes as o
    on conflict (alert_rule_id) do update set
        workspace_id = excluded.workspace_id,
        state = excluded.state,
        state_since = excluded.state_since,
        last_value = excluded.last_value,
        changed_at = excluded.changed_at
    {#- a rule whose value and state stay as they were is not written again #}
    where (st.state, st.last_value, st.workspace_id) is distinct from (excluded.state, excluded.last_value, excluded.workspace_id);

    {#- a rule switched off (or no longer readable) while firing: its episode ends, unsent #}
    update {{ s }}.alert_history as h
    set state = 'resolved', resolved_at = evaluated_at
    where h.state = 'firing' and not exists (select from {{ work }}.alert_outcomes as o where o.open_alert_id = h.id);
    delete from {{ s }}.alert_rule_states as st
    where not exists (select from {{ work }}.alert_outcomes as o where o.alert_rule_id = st.alert_rule_id);

    with opened as (
        insert into {{ s }}.alert_history as h (
            alert_rule_id, workspace_id, triggered_at, metric_value, threshold_value, notifications_sent,
            notification_status, state
        )
        select
            o.alert_rule_id, o.workspace_id, evaluated_at,
            {{ as_stored_value('o.value') }},
            r.threshold_value, '[]'::jsonb, null, 'firing'
        from {{ work }}.alert_outcomes as o
        inner join {{ s }}.alert_rules as r on o.alert_rule_id = r.id
        where o.event = 'firing'
        returning h.id, h.alert_rule_id
    )

    update {{ work }}.alert_outcomes as o set open_alert_id = opened.id
    from opened where o.alert_rule_id = opened.alert_rule_id;
    get diagnostics fired = row_count;

    update {{ s }}.alert_rules as r
    set last_triggered_at = evaluated_at, trigger_count = coalesce(r.trigger_count, 0) + 1
    from {{ work }}.alert_outcomes as o
    where o.alert_rule_id = r.id and o.event = 'firing';

    update {{ s }}.alert_history as h
    set state = 'resolved', resolved_at = evaluated_at, resolved_value = {{ as_stored_value('o.value') }}
    from {{ work }}.alert_outcomes as o
    where h.id = o.open_alert_id and o.event = 'resolved';

    {#- the messages: one per channel and target of each rule that fired, is due again or
        resolved, unless silenced #}
    insert into {{ s }}.alert_notifications (alert_id, alert_rule_id, workspace_id, event, channel, target, payload)
    select
        h.id, r.id, r.workspace_id, o.event, t.channel, t.target,
        jsonb_build_object(
            'event', o.event,
            'alert_id', h.id,
            'rule_id', r.id,
            'rule_name', r.name,
            'metric_type', r.metric_type,
            'metric_description', m.description,
            'unit', m.unit,
            'condition', r.condition,
            'threshold', r.threshold_value,
            'value', o.value,
            'window_minutes', r.evaluation_window_minutes,
            'workspace_id', r.workspace_id,
            'workspace_name', ws.name,
            'since', h.triggered_at,
            'resolved_at', h.resolved_at,
            'evaluated_at', evaluated_at
        )
    from {{ work }}.alert_outcomes as o
    inner join {{ s }}.alert_history as h on o.open_alert_id = h.id
    inner join {{ s }}.alert_rules as r on o.alert_rule_id = r.id
    inner join {{ s }}.alert_metrics as m on r.metric_type = m.metric_type
    left join {{ app }}.workspaces as ws on r.workspace_id = ws.id
    cross join lateral {{ s }}.alert_rule_targets(r.notification_channels, r.notification_recipients) as t
    where o.event is not null and not o.silenced and r.notification_channels ? t.channel;

    {#- an episode with something new to send is pending until the dispatcher has sent it;
        one with nothing to send (no channels, or silenced) keeps the status it had #}
    update {{ s }}.alert_history as h
    set
        notification_status = case when exists (
            select from {{ s }}.alert_notifications as n where n.alert_id = h.id and n.status = 'pending'
        ) then 'pending' else h.notification_status end,
        last_notified_at = case when o.silenced then h.last_notified_at else evaluated_at end
    from {{ work }}.alert_outcomes as o
    where h.id = o.open_alert_id and o.event is not null;

    return fired;
{{ log_failed_call("'evaluate_alerts'") }}
end
$$;
revoke all on function {{ s }}.evaluate_alerts(timestamptz) from public;
grant execute on function {{ s }}.evaluate_alerts(timestamptz) to service_role
{% endmacro %}


{% macro as_stored_value(value) -%}
{#- A value as alert_history's numeric(10, 2) holds it: one beyond the column (a huge sum) is
    stored as unknown rather than failing the evaluation of every rule. -#}
case when abs({{ value }}) < 99999999.995 then round({{ value }}, 2) end
{%- endmacro %}


{% macro create_alert_work_tables() %}
{#- What one evaluation computes on its way: unlogged, the owner's, emptied by each evaluation
    under its lock (temporary tables would let a caller's own table of the same name stand in). -#}
{% set work = internal_schema() %}
create unlogged table if not exists {{ work }}.alert_windows (
    source text not null,
    minutes integer not null,
    span interval not null
);
create unlogged table if not exists {{ work }}.alert_values (
    minutes integer not null,
    workspace_id uuid,
    is_platform boolean not null,
    metric_type text not null,
    value numeric
);
create unlogged table if not exists {{ work }}.alert_outcomes (
    alert_rule_id uuid primary key,
    workspace_id uuid,
    value numeric,
    state_since timestamptz not null,
    new_state text not null,
    open_alert_id uuid,
    event text,
    silenced boolean not null
);
{#- an earlier version kept the state it came from, which nothing read #}
alter table {{ work }}.alert_outcomes drop column if exists old_state;
revoke all on {{ work }}.alert_windows, {{ work }}.alert_values, {{ work }}.alert_outcomes
from public, anon, authenticated, service_role
{% endmacro %}


{% macro alert_window_bounds(source) -%}
{#- The windows the active rules of `source` use, widest first, as offsets back from
    evaluated_at (-1 day, ..., -5 minutes): width_bucket's thresholds, ascending. -#}
array(
    select -w.span from {{ internal_schema() }}.alert_windows as w
    where w.source = '{{ source }}' order by w.span desc
)
{%- endmacro %}


{% macro insert_alert_values(source, relation, time_column, partials, measures) %}
{#- Each of `measures` ([metric_type, expression naming the `partials` bare]) of `relation`'s
    rows in every window the rules of `source` use, per workspace and for the platform, into
    alert_values. The rows are read once, back to the widest window, and counted per
    workspace and bucket (how many of the windows hold the row), so the `partials`
    ({name: aggregate over source_rows}) must be sums or counts, which add up across buckets. -#}
bounds := {{ alert_window_bounds(source) }};
if cardinality(bounds) > 0 then
    with buckets as (
        select
            source_rows.workspace_id,
            width_bucket(source_rows.{{ time_column }} - evaluated_at, bounds) as bucket,
            {%- for name, aggregate in partials.items() %}
            {{ aggregate }} as {{ name }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ relation }} as source_rows
        where
            source_rows.{{ time_column }} >= evaluated_at + bounds[1]
            and source_rows.{{ time_column }} < evaluated_at
        group by 1, 2
    )

    {{ insert_windowed_values(partials, measures) | indent(4) }};
end if;
{%- endmacro %}


{% macro insert_windowed_values(partials, measures) %}
{#- `measures` in each window of `bounds`, per workspace and for the platform, from the
    relation `buckets` (workspace_id, bucket, and the `partials`, which add up), into
    alert_values. -#}
insert into {{ internal_schema() }}.alert_values
select counted.minutes, counted.workspace_id, counted.is_platform, metric.metric_type, metric.value
from (
    select
        w.minutes,
        buckets.workspace_id,
        grouping(buckets.workspace_id) = 1 as is_platform,
        {%- for name in partials %}
        sum(buckets.{{ name }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from buckets
    {{ alert_windows_of('buckets', 'bounds') | indent(4) }}
    group by grouping sets ((w.minutes, buckets.workspace_id), (w.minutes))
) as counted
cross join lateral (
    values
    {%- for name, expression in measures %}
    ('{{ name }}', ({{ expression }})::numeric){{ ',' if not loop.last }}
    {%- endfor %}
) as metric (metric_type, value)
{%- endmacro %}


{% macro alert_windows_of(relation, bounds) -%}
{#- Each row of `relation` once per window of `bounds` that holds its `bucket`, as w.minutes:
    a row in bucket k lies in the k widest windows. -#}
inner join unnest({{ bounds }}) with ordinality as w_bound (bound, rank) on {{ relation }}.bucket >= w_bound.rank
cross join lateral (select extract(epoch from -w_bound.bound)::integer / 60 as minutes) as w
{%- endmacro %}
