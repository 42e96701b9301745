{% macro daily_metrics_rows(days) %}
{#-
    The rows of analytics.daily_metrics for `days` (none: every day; a list of ISO dates; or a
    subquery of UTC days),
    one per workspace with activity that day plus the platform row (workspace_id NULL).
    Shared by the model and by analytics.aggregate_daily_metrics(), so both give one answer.
    Definitions: metrics.md.
-#}
with runs as (
    select
        runs.*,
        runs.run_date as metric_date
    from {{ ref('int_agent_runs') }} as runs
    where
        {{ in_days('runs.started_at', days) | indent(8) }}
),

error_events as (
    select
        events.workspace_id,
        events.error_type,
        {{ utc_date('events.created_at') }} as metric_date
    from {{ ref('stg_analytics__user_activity') }} as events
    where
        events.event_type = 'error'
        and {{ in_days('events.created_at', days) | indent(8) }}
),

activity as (
    select *
    from {{ ref('int_user_scope_days') }}
    where
        {{ in_days('activity_date', days, is_date=true) | indent(8) }}
),

sessions as (
    select
        sessions.*,
        {{ utc_date('sessions.session_start_at') }} as metric_date
    from {{ ref('int_sessions') }} as sessions
    where
        {{ in_days('sessions.session_start_at', days) | indent(8) }}
),

first_seen as (
    select * from {{ ref('int_user_first_seen') }}
),

members as (
    select * from {{ ref('stg_app__workspace_members') }}
),

users as (
    select * from {{ ref('stg_app__users') }}
),

agents as (
    select * from {{ ref('stg_app__agents') }}
),

{# Every fact counts once for its workspace and once for the platform row: the grouping sets
    ((day, workspace), (day)) read each fact once (a union of the two scopes read it twice,
    and materialized it), and a fact with no workspace counts for the platform only. The
    user-days already carry their scope. -#}
user_counts as (
    select
        activity.activity_date as metric_date,
        activity.scope_id,
        count(*) as active_users,
        count(*) filter (where first_seen.first_seen_date = activity.activity_date) as new_users
    from activity
    left join first_seen
        on activity.scope_id = first_seen.scope_id and activity.user_id = first_seen.user_id
    group by activity.activity_date, activity.scope_id
),

session_stats as (
    select
        metric_date,
        {{ scope_of_grouping('workspace_id') | indent(8) }} as scope_id,
        count(*) as total_sessions,
        avg(extract(epoch from session_end_at - session_start_at)) as avg_session_duration_seconds,
        100.0 * count(*) filter (where is_bounce)
        / nullif(count(*) filter (where page_view_count > 0), 0) as bounce_rate
    from sessions
    group by grouping sets ((metric_date, workspace_id), (metric_date))
    having {{ is_scope_grouping('workspace_id') }}
),

run_stats as (
    select
        metric_date,
        {{ scope_of_grouping('workspace_id') | indent(8) }} as scope_id,
        count(*) as total_runs,
        count(*) filter (where is_successful) as successful_runs,
        count(*) filter (where is_failed) as failed_runs,
        count(*) filter (where is_cancelled) as cancelled_runs,
        avg(runtime_seconds) as avg_runtime_seconds,
        percentile_cont(0.5) within group (order by runtime_seconds) as median_runtime_seconds,
        percentile_cont(0.95) within group (order by runtime_seconds) as p95_runtime_seconds,
        percentile_cont(0.99) within group (order by runtime_seconds) as p99_runtime_seconds,
        sum(credits_consumed) as total_credits_consumed,
        count(distinct agent_id) as unique_agents_run
    from runs
    group by grouping sets ((metric_date, workspace_id), (metric_date))
    having {{ is_scope_grouping('workspace_id') }}
),

credits_by_model as (
    select
        per_model.metric_date,
        per_model.scope_id,
        jsonb_object_agg(per_model.model, per_model.credits order by per_model.model) as credits_by_model
    from (
        select
            metric_date,
            {{ scope_of_grouping('workspace_id') | indent(12) }} as scope_id,
            model,
            sum(credits_consumed) as credits
        from runs
        group by grouping sets ((metric_date, workspace_id, model), (metric_date, model))
        having {{ is_scope_grouping('workspace_id') }}
    ) as per_model
    group by per_model.metric_date, per_model.scope_id
),

agent_ranks as (
    select
        per_agent.*,
        row_number() over (
            partition by per_agent.metric_date, per_agent.scope_id
            order by per_agent.runs desc, per_agent.agent_id asc
        ) as agent_rank
    from (
        select
            metric_date,
            {{ scope_of_grouping('workspace_id') | indent(12) }} as scope_id,
            agent_id,
            count(*) as runs,
            sum(credits_consumed) as credits
        from runs
        group by grouping sets ((metric_date, workspace_id, agent_id), (metric_date, agent_id))
        having {{ is_scope_grouping('workspace_id') }}
    ) as per_agent
),

top_agents as (
    select
        agent_ranks.metric_date,
        agent_ranks.scope_id,
        jsonb_agg(
            jsonb_build_object(
                'agent_id', agent_ranks.agent_id,
                'agent_name', agents.agent_name,
                'runs', agent_ranks.runs,
                'credits', agent_ranks.credits
            )
            order by agent_ranks.agent_rank
        ) as top_agents
    from agent_ranks
    left join agents on agent_ranks.agent_id = agents.agent_id
    where agent_ranks.agent_rank <= 5
    group by agent_ranks.metric_date, agent_ranks.scope_id
),

error_occurrences as (
    select
        runs.metric_date,
        runs.workspace_id,
        runs.failure_type as error_type
    from runs
    where runs.is_failed
    union all
    select
        error_events.metric_date,
        error_events.workspace_id,
        error_events.error_type
    from error_events
),

error_stats as (
    select
        per_type.metric_date,
        per_type.scope_id,
        sum(per_type.errors) as total_errors,
        jsonb_object_agg(per_type.error_type, per_type.errors order by per_type.error_type) as errors_by_type
    from (
        select
            metric_date,
            {{ scope_of_grouping('workspace_id') | indent(12) }} as scope_id,
            error_type,
            count(*) as errors
        from error_occurrences
        group by grouping sets ((metric_date, workspace_id, error_type), (metric_date, error_type))
        having {{ is_scope_grouping('workspace_id') }}
    ) as per_type
    group by per_type.metric_date, per_type.scope_id
),

{# the (day, scope) pairs with an active user or a session, from the aggregates: the union
    of the raw rows deduplicated half a million of them at large -#}
buckets as (
    select
        user_counts.metric_date,
        user_counts.scope_id,
        {{ workspace_from_scope('user_counts.scope_id') }} as workspace_id
    from user_counts
    union
    select
        session_stats.metric_date,
        session_stats.scope_id,
        {{ workspace_from_scope('session_stats.scope_id') }} as workspace_id
    from session_stats
),

final as (
    select
        {{ row_id(['buckets.metric_date', 'buckets.workspace_id']) | indent(8) }}
            as id,
        buckets.metric_date,
        buckets.workspace_id,
        {{ total_users_on('buckets.scope_id', 'buckets.metric_date', 'users', 'members') | indent(8) }} as total_users,
        coalesce(user_counts.active_users, 0)::integer as active_users,
        coalesce(user_counts.new_users, 0)::integer as new_users,
        coalesce(user_counts.active_users - user_counts.new_users, 0)::integer as returning_users,
        coalesce(session_stats.total_sessions, 0)::integer as total_sessions,
        session_stats.avg_session_duration_seconds::numeric(10, 2) as avg_session_duration_seconds,
        session_stats.bounce_rate::numeric(5, 2) as bounce_rate,
        coalesce(run_stats.total_runs, 0)::integer as total_runs,
        coalesce(run_stats.successful_runs, 0)::integer as successful_runs,
        coalesce(run_stats.failed_runs, 0)::integer as failed_runs,
        coalesce(run_stats.cancelled_runs, 0)::integer as cancelled_runs,
        run_stats.avg_runtime_seconds::numeric(10, 2) as avg_runtime_seconds,
        run_stats.median_runtime_seconds::numeric(10, 2) as median_runtime_seconds,
        run_stats.p95_runtime_seconds::numeric(10, 2) as p95_runtime_seconds,
        run_stats.p99_runtime_seconds::numeric(10, 2) as p99_runtime_seconds,
        coalesce(run_stats.total_credits_consumed, 0)::{{ credit_sum_type() }} as total_credits_consumed,
        (
            run_stats.total_credits_consumed / nullif(run_stats.total_runs, 0)
        )::{{ credit_average_type() }} as avg_credits_per_run,
        coalesce(credits_by_model.credits_by_model, '{}'::jsonb) as credits_by_model,
        coalesce(run_stats.unique_agents_run, 0)::integer as unique_agents_run,
        coalesce(top_agents.top_agents, '[]'::jsonb) as top_agents,
        coalesce(error_stats.total_errors, 0)::integer as total_errors,
        (100.0 * run_stats.failed_runs / nullif(run_stats.total_runs, 0))::numeric(5, 2) as error_rate,
        coalesce(error_stats.errors_by_type, '{}'::jsonb) as errors_by_type,
        {{ rollup_timestamps() | indent(8) }}
    from buckets
    left join user_counts using (metric_date, scope_id)
    left join session_stats using (metric_date, scope_id)
    left join run_stats using (metric_date, scope_id)
    left join credits_by_model using (metric_date, scope_id)
    left join top_agents using (metric_date, scope_id)
    left join error_stats using (metric_date, scope_id)
)

select * from final
{% endmacro %}


{% macro create_aggregate_daily_metrics_function() %}
{%- set ddl %}
{#-
    The spec's aggregate_daily_metrics(), computing the same rows as the model for one day
    (F3: the spec's body referenced a missing column and filled 9 of 30 columns).
    With a workspace, only that workspace's row is written.
-#}
create or replace function {{ this.schema }}.aggregate_daily_metrics(
    target_date date,
    target_workspace_id uuid default null
)
returns void
language plpgsql
security definer
{{ maintenance_function_settings() }}
as $function$
begin
    if target_date is null then
        raise exception 'aggregate_daily_metrics: target_date must not be null';
    end if;
    perform {{ this.schema }}.write_audit('aggregate_daily_metrics', target_workspace_id,
        jsonb_build_object('target_date', target_date));
    -- One statement, no temporary table (a caller could have made one of that name first).
    with fresh as (
        {{ daily_metrics_rows('select target_date as day') | indent(8) }}
    ),

    vanished as (
        delete from {{ this }} as t
        where t.metric_date = target_date
          and (target_workspace_id is null or t.workspace_id = target_workspace_id)
          and not exists (select from fresh as s where s.id = t.id)
    )

    insert into {{ this }}
    select * from fresh as s
    where target_workspace_id is null or s.workspace_id = target_workspace_id
    on conflict (id) do update set
    {%- for column in daily_metrics_value_columns() %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
    where ({% for column in daily_metrics_value_columns() %}{{ this.identifier }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
        is distinct from
        ({% for column in daily_metrics_value_columns() %}excluded.{{ column }}{{ ', ' if not loop.last }}{% endfor %});
{{ log_failed_call("'aggregate_daily_metrics'") }}
end
$function$;
revoke all on function {{ this.schema }}.aggregate_daily_metrics(date, uuid) from public;
grant execute on function {{ this.schema }}.aggregate_daily_metrics(date, uuid) to service_role
{%- endset %}
{{ without_database_names(ddl) }}
{% endmacro %}


{% macro daily_metrics_value_columns() %}
{{ return([
    'total_users', 'active_users', 'new_users', 'returning_users', 'total_sessions',
    'avg_session_duration_seconds', 'bounce_rate', 'total_runs', 'successful_runs', 'failed_runs',
    'cancelled_runs', 'avg_runtime_seconds', 'median_runtime_seconds', 'p95_runtime_seconds',
    'p99_runtime_seconds', 'total_credits_consumed', 'avg_credits_per_run', 'credits_by_model',
    'unique_agents_run', 'top_agents', 'total_errors', 'error_rate', 'errors_by_type',
]) }}
{% endmacro %}


{% macro total_users_on(scope_id, day, users_relation, members_relation) -%}
{#- total_users of a scope on a day (metrics.md): the platform's users who signed up by its end,
    a workspace's members who joined by then. -#}
(
    case
        when {{ scope_id }} = {{ platform_scope_id() }}
            then (
                select count(*)
                from {{ users_relation }} as counted_users
                where counted_users.created_at < {{ utc_day_start(day ~ ' + 1') }}
            )
        else (
            select count(*)
            from {{ members_relation }} as counted_members
            where
                counted_members.workspace_id = {{ scope_id }}
                and counted_members.joined_at < {{ utc_day_start(day ~ ' + 1') }}
        )
    end
)::integer
{%- endmacro %}


{% macro recount_total_users() -%}
{#- A post-hook of daily_metrics. total_users of every past day counts the users and members
    who exist now: a deleted (or erased) user leaves every day since they signed up, not only
    the days they were active, which the build recomputes. When a platform row's count differs
    from the users who exist, every day is counted again (otherwise the check costs one pass
    over the users). -#}
{%- set users = ref('stg_app__users') -%}
{%- set members = ref('stg_app__workspace_members') -%}
{%- if is_incremental() and not is_backfill() and var('erasure_recounts') -%}
with signups as (
    select
        {{ utc_date('created_at') }} as signup_date,
        count(*) as users
    from {{ users }}
    group by 1
),

recounted as (
    select
        rollup.id,
        {{ total_users_on('rollup.scope_id', 'rollup.metric_date', users, members) | indent(8) }}
            as total_users
    from (
        select
            daily.id,
            daily.metric_date,
            coalesce(daily.workspace_id, {{ platform_scope_id() }}) as scope_id
        from {{ this }} as daily
    ) as rollup
    {#- the platform's counts, one sum per day, say whether anyone left #}
    where exists (
        select from {{ this }} as platform
        where
            platform.workspace_id is null
            and platform.total_users <> coalesce((
                select sum(signups.users)
                from signups
                where signups.signup_date <= platform.metric_date
            ), 0)
    )
)

update {{ this }} as rollup
set total_users = recounted.total_users
from recounted
where rollup.id = recounted.id and rollup.total_users is distinct from recounted.total_users
{%- else -%}
select 'full build: total_users counted as built'
{%- endif -%}
{%- endmacro %}
