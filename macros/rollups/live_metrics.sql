{#- The live current hour and day: what a member reads without waiting for the hourly build, as
    TimescaleDB's real-time aggregates do: the built rows up to where the builds have taken
    everything in, and past it the same rows computed from the raw ones when asked. How to
    use them: docs/live-metrics.md. -#}


{% macro live_window_start() -%}
{#- Where the live part starts: the start of the UTC day, or earlier when the builds have not
    taken in everything since (a stopped worker), so that today and the current hour are always
    computed from the raw rows. The hour of the least advanced watermark, not the watermark: a
    build recomputes whole hours. -#}
least(
    coalesce(
        date_trunc(
            'hour',
            (select taken_in.taken_in_until from {{ internal_schema() }}.build_taken_in as taken_in),
            'UTC'
        ),
        'infinity'
    ),
    date_trunc('day', now(), 'UTC')
)
{%- endmacro %}


{% macro live_window_end() -%}
{#- The latest time a stored event can have: the staging view keeps an event up to
    max_event_lead() past its arrival (ingested_at, stamped now() for the app). The bound lets
    the planner leave out the partitions made ahead and the default one. -#}
now() + {{ max_event_lead() }}
{%- endmacro %}


{% macro runs_started_since_live_start(runs, workspaces) -%}
{#- The runs started from `v_from` on, as a relation: every workspace's, or those of
    `workspaces` (a SQL array), read one workspace at a time (each once, however often the
    array names it) through the app's (workspace_id, started_at) index. A workspace's call
    keeps a generic plan, which cannot see that the window is a day: it read the day's runs of
    every workspace through the started_at index and kept the few that were theirs, a cost that
    grew with the platform and through the day (docs/live-metrics.md, "Cost"). -#}
{%- if workspaces is none -%}
(
    select *
    from {{ runs }}
    where started_at >= v_from
) as live_runs_since
{%- else -%}
(select distinct pg_catalog.unnest({{ workspaces }}) as scope_workspace_id) as scope
cross join lateral (
    {#- OFFSET 0 keeps it a subquery of its own: pulled up into the join, the planner took the
        started_at index again, and the call cost more than before (docs/live-metrics.md) #}
    select *
    from {{ runs }}
    where workspace_id = scope_workspace_id and started_at >= v_from
    offset 0 -- noqa: AM09
) as live_runs_since
{%- endif %}
{%- endmacro %}


{% macro live_hourly_rows(events, runs, workspaces) -%}
{#- The hourly_metrics rows of the hours from `v_from` on, from the raw rows; `workspaces`: a
    SQL array of workspace ids (their rows only), or none (every workspace and the platform). -#}
{%- set in_workspaces = 'true' if workspaces is none else 'workspace_id = any(' ~ workspaces ~ ')' %}
select live.* from (
    {#- Each raw table read once, bounded on both sides and with the columns the rows need: the
        planner then plans the live day's partitions once (planning is most of a call's cost). #}
    with live_events as materialized (
        select
            created_at,
            workspace_id,
            user_id,
            event_type,
            response_time_ms
        from {{ events }}
        where created_at >= v_from and created_at <= v_until and {{ in_workspaces }}
    ),

    live_runs as materialized (
        select
            live_runs_since.run_hour,
            live_runs_since.workspace_id,
            live_runs_since.user_id,
            live_runs_since.is_successful,
            live_runs_since.is_failed,
            live_runs_since.credits_consumed
        from {{ runs_started_since_live_start(runs, workspaces) | indent(8) }}
    ),

    user_hours as (
        select
            {{ utc_hour('created_at') }} as activity_hour,
            workspace_id,
            user_id
        from live_events
        union
        select
            run_hour,
            workspace_id,
            user_id
        from live_runs
    ),

    api_calls as (
        select * from live_events
        where event_type = 'api_call'
    ),

    runs as (
        select * from live_runs
    ),

    {{ hourly_metrics_rows(with_platform=workspaces is none) | indent(4) }}
) as live
{%- endmacro %}


{% macro create_live_hourly_functions(events, runs) %}
{%- set ddl %}
{%- set s = this.schema %}
{%- set row_type = this.include(database=false) %}
{{ ensure_live_snapshot_table('hourly', '(like ' ~ row_type ~ ')', relation_columns_text(row_type), 'metric_hour') }}
create or replace function {{ internal_schema() }}.live_hourly_metrics(
    p_workspace_ids uuid array, p_since timestamptz
)
returns setof {{ row_type }}
language plpgsql
{#- STABLE, not VOLATILE: every statement runs with the call's snapshot, so the look at
    live_snapshots and the read of the snapshot's rows see the same refresh, even when another
    commits in between. #}
stable
set search_path = {{ definer_search_path() }}
{#- The platform's call keeps custom plans: a generic plan cannot see that the window is an
    hour or a day, and chose scans of whole partitions (2 s against 0.4 s at large). A
    workspace's call takes one generic plan per session instead (set_config below, undone
    when the function returns): planned once, it runs in about a millisecond, where each
    custom plan planned the window's partitions again (docs/live-metrics.md, "Cost"). #}
set plan_cache_mode = force_custom_plan
as $$
declare
    v_since constant timestamptz := date_trunc('hour', coalesce(p_since, date_trunc('day', now(), 'UTC')), 'UTC');
    v_live constant timestamptz := {{ live_window_start() }};
    v_from constant timestamptz := greatest(v_since, v_live);
    v_until constant timestamptz := {{ live_window_end() }};
begin
    {#- Two statements, not one with "p_workspace_ids is null or ...": each keeps a plan that
        uses the workspace indexes. #}
    if p_workspace_ids is null then
        return query
        select built.* from {{ this }} as built
        where built.metric_hour >= v_since and built.metric_hour < v_live
        union all
        {{ live_hourly_rows(events, runs, none) | indent(8) }};
    else
        perform pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
        if not pg_catalog.pg_is_in_recovery() then
            if {{ live_snapshot_is_fresh('hourly') | indent(12) }} then
                return query
                select built.* from {{ this }} as built
                where built.metric_hour >= v_since and built.metric_hour < v_live and built.workspace_id = any(p_workspace_ids)
                union all
                select taken.* from {{ internal_schema() }}.live_hourly_snapshot as taken
                where taken.metric_hour >= v_from and taken.workspace_id = any(p_workspace_ids);
                return;
            end if;
        end if;
        return query
        select built.* from {{ this }} as built
        where built.metric_hour >= v_since and built.metric_hour < v_live and built.workspace_id = any(p_workspace_ids)
        union all
        {{ live_hourly_rows(events, runs, 'p_workspace_ids') | indent(8) }};
    end if;
end
$$;
revoke all on function {{ internal_schema() }}.live_hourly_metrics(uuid array, timestamptz) from public;

{{ create_live_snapshot_refresh(
    'hourly',
    live_window_start(),
    'select live.* from ' ~ internal_schema() ~ '.live_hourly_metrics(null, v_live) as live where live.workspace_id is not null',
) }}

{{ create_live_doors('live_hourly_metrics', 'timestamptz', 'setof ' ~ row_type) }}
{%- endset %}
{{ without_database_names(ddl) }}
{% endmacro %}


{% macro live_daily_rows(events, runs, first_seen, workspaces) -%}
{#- daily_metrics' user, run and error figures of the UTC days from `v_from` on, from the raw
    rows. A user is new on their first live day unless the built grain saw them before it. A
    few workspaces' call computes their rows only: the platform's would count their users alone. -#}
{%- set in_workspaces = 'true' if workspaces is none else 'workspace_id = any(' ~ workspaces ~ ')' %}
select live.* from (
    with events as materialized (
        select
            created_at,
            workspace_id,
            user_id,
            event_type
        from {{ events }}
        where created_at >= v_from and created_at <= v_until and {{ in_workspaces }}
    ),

    runs as materialized (
        select
            live_runs_since.run_date,
            live_runs_since.workspace_id,
            live_runs_since.user_id,
            live_runs_since.agent_id,
            live_runs_since.is_successful,
            live_runs_since.is_failed,
            live_runs_since.is_cancelled,
            live_runs_since.credits_consumed
        from {{ runs_started_since_live_start(runs, workspaces) | indent(8) }}
    ),

    user_days as (
        select
            {{ utc_date('created_at') }} as metric_date,
            workspace_id,
            user_id
        from events
        union
        select
            run_date,
            workspace_id,
            user_id
        from runs
    ),

    scoped_user_days as (
        select
            metric_date,
            workspace_id as scope_id,
            user_id
        from user_days
        where workspace_id is not null
        {%- if workspaces is none %}
        union
        select
            metric_date,
            {{ platform_scope_id() }},
            user_id
        from user_days
        {%- endif %}
    ),

    first_live_days as (
        select
            scope_id,
            user_id,
            min(metric_date) as first_live_date
        from scoped_user_days
        group by scope_id, user_id
    ),

    seen_before as (
        select
            scope_id,
            user_id
        from {{ first_seen }}
        where first_seen_date < v_from::date
    ),

    user_counts as (
        select
            days.metric_date,
            days.scope_id,
            count(*) as active_users,
            count(*) filter (
                where days.metric_date = firsts.first_live_date and seen_before.user_id is null
            ) as new_users
        from scoped_user_days as days
        inner join first_live_days as firsts
            on days.scope_id = firsts.scope_id and days.user_id = firsts.user_id
        left join seen_before
            on days.scope_id = seen_before.scope_id and days.user_id = seen_before.user_id
        group by days.metric_date, days.scope_id
    ),

    run_stats as (
        select
            run_date as metric_date,
            {{ scope_of_grouping('workspace_id') | indent(12) }} as scope_id,
            count(*) as total_runs,
            count(*) filter (where is_successful) as successful_runs,
            count(*) filter (where is_failed) as failed_runs,
            count(*) filter (where is_cancelled) as cancelled_runs,
            sum(credits_consumed) as total_credits_consumed,
            count(distinct agent_id) as unique_agents_run
        from runs
        group by grouping sets ((run_date, workspace_id){{ ', (run_date)' if workspaces is none }})
        having {{ is_scope_grouping('workspace_id') }}
    ),

    error_stats as (
        select
            metric_date,
            {{ scope_of_grouping('workspace_id') | indent(12) }} as scope_id,
            count(*) as total_errors
        from (
            select
                run_date as metric_date,
                workspace_id
            from runs
            where is_failed
            union all
            select
                {{ utc_date('created_at') }},
                workspace_id
            from events
            where event_type = 'error'
        ) as errors
        group by grouping sets ((metric_date, workspace_id){{ ', (metric_date)' if workspaces is none }})
        having {{ is_scope_grouping('workspace_id') }}
    )

    select
        user_counts.metric_date,
        {{ workspace_from_scope('user_counts.scope_id') }} as workspace_id,
        user_counts.active_users::integer,
        user_counts.new_users::integer,
        (user_counts.active_users - user_counts.new_users)::integer as returning_users,
        coalesce(run_stats.total_runs, 0)::integer as total_runs,
        coalesce(run_stats.successful_runs, 0)::integer as successful_runs,
        coalesce(run_stats.failed_runs, 0)::integer as failed_runs,
        coalesce(run_stats.cancelled_runs, 0)::integer as cancelled_runs,
        coalesce(run_stats.total_credits_consumed, 0)::{{ credit_sum_type() }} as total_credits_consumed,
        coalesce(run_stats.unique_agents_run, 0)::integer as unique_agents_run,
        coalesce(error_stats.total_errors, 0)::integer as total_errors,
        (100.0 * run_stats.failed_runs / nullif(run_stats.total_runs, 0))::numeric(5, 2) as error_rate,
        now() as as_of
    from user_counts
    left join run_stats
        on user_counts.metric_date = run_stats.metric_date and user_counts.scope_id = run_stats.scope_id
    left join error_stats
        on user_counts.metric_date = error_stats.metric_date and user_counts.scope_id = error_stats.scope_id
) as live
{%- endmacro %}


{% macro live_daily_columns() -%}
metric_date date,
workspace_id uuid,
active_users integer,
new_users integer,
returning_users integer,
total_runs integer,
successful_runs integer,
failed_runs integer,
cancelled_runs integer,
total_credits_consumed {{ credit_sum_type() }},
unique_agents_run integer,
total_errors integer,
error_rate numeric(5, 2),
as_of timestamptz
{%- endmacro %}


{% macro create_live_daily_functions(events, runs, first_seen) %}
{%- set ddl %}
{%- set s = this.schema %}
{{ ensure_live_snapshot_table('daily', '(\n    ' ~ live_daily_columns() | indent(4) ~ '\n)', "'" ~ live_daily_columns() ~ "'", 'metric_date') }}
create or replace function {{ internal_schema() }}.live_daily_metrics(
    p_workspace_ids uuid array, p_since date
)
returns table (
    {{ live_daily_columns() | indent(4) }}
)
language plpgsql
stable
set search_path = {{ definer_search_path() }}
{#- custom plans for the platform, one generic plan per session for a workspace: see the hourly function #}
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_since constant timestamptz := coalesce(p_since, (now() at time zone 'UTC')::date)::timestamp at time zone 'UTC';
    v_live constant timestamptz := date_trunc('day', {{ live_window_start() }}, 'UTC');
    v_from constant timestamptz := greatest(v_since, v_live);
    v_until constant timestamptz := {{ live_window_end() }};
begin
    if p_workspace_ids is null then
        return query
        select
            {{ live_daily_built_columns() }}
        from {{ this }} as built
        where built.metric_date >= v_since::date and built.metric_date < v_live::date
        union all
        {{ live_daily_rows(events, runs, first_seen, none) | indent(8) }};
    else
        perform pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
        if not pg_catalog.pg_is_in_recovery() then
            if {{ live_snapshot_is_fresh('daily') | indent(12) }} then
                return query
                select
                    {{ live_daily_built_columns() | indent(8) }}
                from {{ this }} as built
                where built.metric_date >= v_since::date and built.metric_date < v_live::date
                    and built.workspace_id = any(p_workspace_ids)
                union all
                select taken.* from {{ internal_schema() }}.live_daily_snapshot as taken
                where taken.metric_date >= v_from::date and taken.workspace_id = any(p_workspace_ids);
                return;
            end if;
        end if;
        return query
        select
            {{ live_daily_built_columns() }}
        from {{ this }} as built
        where built.metric_date >= v_since::date and built.metric_date < v_live::date
            and built.workspace_id = any(p_workspace_ids)
        union all
        {{ live_daily_rows(events, runs, first_seen, 'p_workspace_ids') | indent(8) }};
    end if;
end
$$;
revoke all on function {{ internal_schema() }}.live_daily_metrics(uuid array, date) from public;

{{ create_live_snapshot_refresh(
    'daily',
    "date_trunc('day', " ~ live_window_start() ~ ", 'UTC')",
    'select live.* from ' ~ internal_schema() ~ ".live_daily_metrics(null, (v_live at time zone 'UTC')::date) as live"
    ~ ' where live.workspace_id is not null',
) }}

{{ create_live_doors('live_daily_metrics', 'date', 'table (\n    ' ~ live_daily_columns() | indent(4) ~ '\n)') }}
{%- endset %}
{{ without_database_names(ddl) }}
{% endmacro %}


{% macro live_daily_built_columns() -%}
built.metric_date, built.workspace_id, built.active_users, built.new_users, built.returning_users,
built.total_runs, built.successful_runs, built.failed_runs, built.cancelled_runs,
built.total_credits_consumed, built.unique_agents_run, built.total_errors, built.error_rate,
built.updated_at as as_of
{%- endmacro %}


{% macro create_live_doors(name, since_type, returns) %}
{#- The two doors to analytics_internal.<name>(): analytics.member_<name>() for a member's
    workspaces (or one of them), and analytics.<name>() for the service key's everything. -#}
{%- set s = this.schema %}
{%- for door, workspaces, callers in [
    ('member_' ~ name, "array(
            select ids.id from " ~ s ~ ".member_workspace_ids() as ids (id)
            where p_workspace_id is null or ids.id = p_workspace_id
        )", 'authenticated, service_role'),
    (name, 'case when p_workspace_id is not null then array[p_workspace_id] end', 'service_role'),
] %}
create or replace function {{ s }}.{{ door }}(
    p_workspace_id uuid default null, p_since {{ since_type }} default null
)
returns {{ returns }}
language plpgsql
stable
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    return query
    select * from {{ internal_schema() }}.{{ name }}(
        {{ workspaces }},
        p_since
    );
end
$$;
revoke all on function {{ s }}.{{ door }}(uuid, {{ since_type }}) from public;
grant execute on function {{ s }}.{{ door }}(uuid, {{ since_type }}) to {{ callers }}{{ ';' if not loop.last }}
{%- endfor %}
{% endmacro %}
