{{
    config(
        materialized='table',
        grants={'select': rollup_readers()},
        post_hook=[
            "{{ ensure_index('idx_activation_funnel_workspace', '(workspace_id, cohort_period, cohort_date desc)') }}",
            "{{ enable_workspace_rls() }}",
        ],
    )
}}

{#- The activation funnel and time to first run, per weekly and monthly cohort: a workspace's
    cohort is the members who joined it in the period, the platform's the users who signed up
    in it. Each step counts the cohort's users who reached it, whatever the order (a member may
    run an agent a colleague made): created an agent, ran one, and came back in week 2 (active
    on a UTC day 7 to 13 days after the cohort day of their start). Rebuilt whole by every
    build, as of the last complete UTC day (or the var report_date), like user_cohorts. -#}
with report_day as (
    select
        {% if checked_var('report_date') %}'{{ checked_var("report_date") }}'::date
        {%- else %}{{ utc_today() }} - 1{% endif %}
            as today
),

starts as (
    select
        members.workspace_id as scope_id,
        members.user_id,
        members.joined_at as started_at
    from {{ ref('stg_app__workspace_members') }} as members
    union all
    select
        {{ platform_scope_id() }},
        users.user_id,
        users.created_at
    from {{ ref('stg_app__users') }} as users
),

cohort_members as (
    select
        starts.scope_id,
        starts.user_id,
        starts.started_at,
        {{ utc_date('starts.started_at') }} as start_date
    from starts
    cross join report_day
    where {{ utc_date('starts.started_at') }} <= report_day.today
),

agent_makers as (
    select
        agents.workspace_id as scope_id,
        agents.created_by as user_id
    from {{ ref('stg_app__agents') }} as agents
    where agents.created_by is not null
    union
    select
        {{ platform_scope_id() }},
        agents.created_by
    from {{ ref('stg_app__agents') }} as agents
    where agents.created_by is not null
),

first_runs as (
    select
        {{ scope_of_grouping('runs.workspace_id') | indent(8) }} as scope_id,
        runs.user_id,
        min(runs.started_at) as first_run_at
    from {{ ref('int_agent_runs') }} as runs
    group by grouping sets ((runs.user_id, runs.workspace_id), (runs.user_id))
    having {{ is_scope_grouping('runs.workspace_id') }}
),

returned_in_week_2 as (
    select distinct
        cohort_members.scope_id,
        cohort_members.user_id
    from cohort_members
    inner join {{ ref('int_user_scope_days') }} as days
        on
            cohort_members.scope_id = days.scope_id
            and cohort_members.user_id = days.user_id
            and days.activity_date between cohort_members.start_date + 7 and cohort_members.start_date + 13
),

journeys as (
    select
        cohort_members.scope_id,
        cohort_members.start_date,
        agent_makers.user_id is not null as created_agent,
        first_runs.first_run_at,
        cohort_members.start_date + 13 <= report_day.today as is_past_week_2,
        returned_in_week_2.user_id is not null as returned_in_week_2,
        {#- a first run before the start (a member who left and joined again) counts as at once;
            greatest() alone would turn "never ran" into 0 #}
        case
            when first_runs.first_run_at is not null
                then greatest(extract(epoch from first_runs.first_run_at - cohort_members.started_at) / 3600, 0)
        end as hours_to_first_run
    from cohort_members
    cross join report_day
    left join agent_makers
        on cohort_members.scope_id = agent_makers.scope_id and cohort_members.user_id = agent_makers.user_id
    left join first_runs
        on
            cohort_members.scope_id = first_runs.scope_id
            and cohort_members.user_id = first_runs.user_id
            and {{ utc_date('first_runs.first_run_at') }} <= report_day.today
    left join returned_in_week_2
        on
            cohort_members.scope_id = returned_in_week_2.scope_id
            and cohort_members.user_id = returned_in_week_2.user_id
),

periodic_journeys as (
    select
        journeys.*,
        periods.cohort_period,
        case periods.cohort_period
            when 'weekly' then date_trunc('week', journeys.start_date)::date
            else date_trunc('month', journeys.start_date)::date
        end as cohort_date
    from journeys
    cross join (values ('weekly'), ('monthly')) as periods (cohort_period)
),

cohorts as (
    select
        cohort_period,
        cohort_date,
        scope_id,
        count(*) as cohort_users,
        count(*) filter (where created_agent) as created_agent_users,
        count(first_run_at) as ran_users,
        count(*) filter (where is_past_week_2) as past_week_2_users,
        count(*) filter (where is_past_week_2 and returned_in_week_2) as returned_week_2_users,
        percentile_cont(0.5) within group (order by hours_to_first_run) as median_hours_to_first_run,
        percentile_cont(0.9) within group (order by hours_to_first_run) as p90_hours_to_first_run
    from periodic_journeys
    group by cohort_period, cohort_date, scope_id
),

final as (
    select
        cohort_period,
        cohort_date,
        {{ workspace_from_scope('scope_id') }} as workspace_id,
        case when scope_id = {{ platform_scope_id() }} then 'platform' else 'workspace' end as scope,
        cohort_users::integer as cohort_users,
        created_agent_users::integer as created_agent_users,
        (100.0 * created_agent_users / cohort_users)::numeric(5, 2) as created_agent_percent,
        ran_users::integer as ran_users,
        (100.0 * ran_users / cohort_users)::numeric(5, 2) as ran_percent,
        past_week_2_users::integer as past_week_2_users,
        returned_week_2_users::integer as returned_week_2_users,
        (100.0 * returned_week_2_users / nullif(past_week_2_users, 0))::numeric(5, 2) as returned_week_2_percent,
        median_hours_to_first_run::numeric(10, 2) as median_hours_to_first_run,
        p90_hours_to_first_run::numeric(10, 2) as p90_hours_to_first_run
    from cohorts
)

select * from final
