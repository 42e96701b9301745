{#- What an incremental build takes in (the rows stamped since its watermark,
    macros/rollups/build_watermarks.sql) and the keys those rows touch, which every grain
    recomputes whole (docs/incremental.md). -#}


{% macro taken_in(kind, alias=none) -%}
{#-
    True for the rows of `kind` ('events', 'runs' or 'deletions') this build takes in: every row on a first
    build or a full refresh; those that happened on the backfill's days; otherwise those
    stamped since this model's last build might not have seen them.
-#}
{%- set prefix = alias ~ '.' if alias else '' -%}
{%- set written = prefix ~ {'events': 'ingested_at', 'runs': 'updated_at', 'deletions': 'recorded_at'}[kind] -%}
{%- set happened = prefix ~ {'events': 'created_at', 'runs': 'started_at', 'deletions': 'happened_at'}[kind] -%}
{%- if not is_incremental() -%}
    true
{%- elif is_backfill() -%}
    {{ happened }} >= {{ utc_day_start("'" ~ checked_var('backfill_from') ~ "'::date") }}
and {{ happened }} < {{ utc_day_start("'" ~ checked_var('backfill_to') ~ "'::date + 1") }}
{%- else -%}
    {%- set mark = build_watermark() | trim -%}
    {%- if not mark -%}
        true
    {%- else -%}
        {{ written }} >= {{ mark }}
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro deletions_taken_in() -%}
{#- The deleted events (per hour) and runs this build takes in (macros/deploy/create_erasure.sql),
    as a query of happened_at, workspace_id, user_id, agent_id, session_id: what they had
    counted is recomputed like what arrived. Nothing on a first build or a full refresh, which
    recompute everything, nor with the var erasure_recounts false (docs/security.md, Erasure).
    Arguments: 'event', 'run' or both. -#}
{%- set wanted = varargs -%}
select
    happened_at,
    workspace_id,
    user_id,
    agent_id,
    session_id
from {{ ref('stg_analytics__deleted_activity') }}
where
    {% if is_incremental() and not is_backfill() and var('erasure_recounts') %}{{ taken_in('deletions') }}{% else %}false{% endif %}
    and source in ({% for kind in wanted %}'{{ kind }}'{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}


{% macro arrivals(period, as_column) -%}
{#- What this build takes in, as distinct rows of (`as_column`, workspace_id, user_id): the UTC
    `period` ('day' or 'hour') of each event and run it takes in and of each deleted one. The
    recompute of every grain starts from it (docs/incremental.md). -#}
{%- set events = ref('stg_analytics__user_activity') -%}
select
    {{ utc_period(period, 'arrived_events.created_at') }} as {{ as_column }},
    arrived_events.workspace_id,
    arrived_events.user_id
from {{ events }} as arrived_events
where
    {{ taken_in('events', 'arrived_events') | indent(4) }}
union
select
    {{ utc_period(period, 'arrived_runs.started_at') }},
    arrived_runs.workspace_id,
    arrived_runs.user_id
from {{ ref('stg_app__agent_runs') }} as arrived_runs
where
    {{ taken_in('runs', 'arrived_runs') | indent(4) }}
{%- if not is_unit_test(events) %}
union
select
    {{ utc_period(period, 'gone.happened_at') }},
    gone.workspace_id,
    gone.user_id
from (
    {{ deletions_taken_in('event', 'run') | indent(4) }}
) as gone
{%- endif %}
{%- endmacro %}


{% macro in_both_scopes(arrived, column) -%}
{#- Each row of `arrived` (arrivals) once in its workspace's scope and once in the platform's,
    as (scope_id, user_id, `column`): the keys of the per-scope grains. -#}
select
    workspace_id as scope_id,
    user_id,
    {{ column }}
from {{ arrived }}
where workspace_id is not null
union
select
    {{ platform_scope_id() }} as scope_id,
    user_id,
    {{ column }}
from {{ arrived }}
{%- endmacro %}


{% macro users_whose_first_day_moved(touched, day_column, first_seen_relation) -%}
{#- The (scope_id, user_id) of `touched` (rows of in_both_scopes) whose first touched day is on
    or before their first-seen day: their first day has just moved to it (a late event, a new
    user) or away from it (a deletion), and what counted them as new or by cohort changes. -#}
select
    touched.scope_id,
    touched.user_id
from {{ touched }} as touched
inner join {{ first_seen_relation }} as first_seen
    on touched.scope_id = first_seen.scope_id and touched.user_id = first_seen.user_id
group by touched.scope_id, touched.user_id, first_seen.first_seen_date
having min(touched.{{ day_column }}) <= first_seen.first_seen_date
{%- endmacro %}


{% macro earliest_taken_in(events_relation=none, runs_relation=none) -%}
{#-
    The earliest moment an event or run taken in happened, for the recompute's lower bound:
    a literal read when the model runs, so the planner prunes older partitions at plan
    time; '-infinity' when every row counts, 'infinity' when nothing new arrived.
-#}
{%- set parts = [] -%}
{%- for relation, kind, happened in [(events_relation, 'events', 'created_at'), (runs_relation, 'runs', 'started_at')]
    if relation is not none -%}
    {%- set part -%}
(
    select min({{ kind }}.{{ happened }})
    from {{ relation }} as {{ kind }}
    where
        {{ taken_in(kind, kind) | indent(8) }}
)
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor -%}
{%- if not is_unit_test(events_relation if events_relation is not none else runs_relation) -%}
    {%- set part -%}
(
    select min(gone.happened_at)
    from (
        {{ deletions_taken_in('event' if events_relation is not none else 'run',
            'run' if runs_relation is not none else 'event') | indent(8) }}
    ) as gone
)
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endif -%}
{%- set query -%}
select least(
    {{ parts | join(',\n') | indent(4) }}
)
{%- endset -%}
{%- if not is_incremental() -%}
    '-infinity'::timestamptz
{%- elif is_unit_test(events_relation if events_relation is not none else runs_relation) or not execute -%}
coalesce(
    (
        {{ query | indent(8) }}
    ),
    'infinity'::timestamptz
)
{%- else -%}
    {%- set found = run_query('select coalesce((' ~ query ~ ")::text, 'infinity')") -%}
    '{{ found.columns[0].values()[0] }}'::timestamptz
{%- endif -%}
{%- endmacro %}


{% macro days_taken_in(events_relation, runs_relation, sessions_relation=none, first_seen_relation=none,
    scope_days_relation=none) -%}
{#-
    The UTC days whose figures the rows taken in can change: the days of the events and runs
    taken in; given the sessions, every day a touched session spans (a late event can move a
    session's start to an earlier day); given the first-seen days and the user-day grain, the
    day a touched user was new on before this build (a late event or a deletion can move
    their first day away from it); a backfill's days exactly. Rendered, when the model runs,
    as ISO dates joined by commas, 'none' when nothing arrived; empty on a first build or a
    full refresh (every day); in a unit test, a subquery. in_days reads it.
-#}
{%- if is_incremental() -%}
    {%- set in_unit_test = is_unit_test(events_relation) -%}
    {%- set query -%}
with taken as (
    {{ arrivals('day', 'day') | indent(4) }}
)

select taken.day from taken
{%- if sessions_relation is not none and not is_backfill() %}
union
select spanned.day::date
from (
    select distinct taken_events.session_id
    from {{ events_relation }} as taken_events
    where
        taken_events.session_id is not null
        and {{ taken_in('events', 'taken_events') | indent(8) }}
    {%- if not in_unit_test %}
    union
    select gone.session_id
    from (
        {{ deletions_taken_in('event') | indent(8) }}
    ) as gone
    where gone.session_id is not null
    {%- endif %}
) as taken_sessions
{#- a join, not IN: the few sessions taken in are looked up by key, not hashed against all #}
inner join {{ sessions_relation }} as touched_sessions
    on taken_sessions.session_id = touched_sessions.session_id
cross join lateral generate_series(
    {{ utc_date('touched_sessions.session_start_at') }},
    {{ utc_date('touched_sessions.session_end_at') }},
    interval '1 day'
) as spanned (day)
{%- endif %}
{%- if first_seen_relation is not none and not is_backfill() and not in_unit_test %}
union
{#- A user whose first touched day is on or before their first-seen day has just moved
    to it (a late event) or from it (a deletion). The day they were new on before is a
    taken day or their first day outside them: the days taken in are all that changed. #}
select (
    select min(scope_days.activity_date)
    from {{ scope_days_relation }} as scope_days
    where
        scope_days.scope_id = moved.scope_id
        and scope_days.user_id = moved.user_id
        {#- the days once, not a scan of what was taken per user #}
        and scope_days.activity_date <> all(array(select distinct taken.day from taken))
)
from (
    {{ users_whose_first_day_moved('(' ~ in_both_scopes('taken', 'day') ~ ')', 'day', first_seen_relation)
        | indent(4) }}
) as moved
{%- endif %}
    {%- endset -%}
    {%- if in_unit_test or not execute -%}
        {{ query }}
    {%- else -%}
        {%- set found = run_query('select day::text from (' ~ query ~ ') as days where day is not null order by 1') -%}
        {{ found.columns[0].values() | join(',') if found.rows | length else 'none' }}
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro hours_taken_in(events_relation, runs_relation) -%}
{#- The UTC hours of the events and runs taken in, rendered like days_taken_in. -#}
{%- if is_incremental() -%}
    {%- set query -%}
select distinct taken.hour
from (
    {{ arrivals('hour', 'hour') | indent(4) }}
) as taken
    {%- endset -%}
    {%- if is_unit_test(events_relation) or not execute -%}
        {{ query }}
    {%- else -%}
        {%- set listing -%}
            select to_char(hour at time zone 'UTC', 'YYYY-MM-DD"T"HH24:00:00+00') from ({{ query }}) as hours order by 1
        {%- endset -%}
        {%- set found = run_query(listing) -%}
        {{ found.columns[0].values() | join(',') if found.rows | length else 'none' }}
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro in_hours(column, hours) -%}
{#- True for rows whose UTC hour is one of `hours` (from hours_taken_in), like in_days. -#}
{%- set hours = hours | trim -%}
{%- if not hours -%}
    true
{%- elif hours == 'none' -%}
    false
{%- elif 'select' in hours -%}
{{ column }} >= (
    select min(h.hour)
    from (
        {{ hours | indent(8) }}
    ) as h
)
and {{ utc_hour(column) }} in (
    {{ hours | indent(4) }}
)
{%- else -%}
    {%- set listed = hours.split(',') -%}
    {#- `timestamptz array` is timestamptz[]: sqlfluff parses this spelling of the array type -#}
{{ column }} >= '{{ listed | min }}'::timestamptz
and {{ column }} < '{{ listed | max }}'::timestamptz + interval '1 hour'
and {{ utc_hour(column) }} = any(
    '{{ "{" ~ hours ~ "}" }}'::timestamptz array
)
{%- endif -%}
{%- endmacro %}


{% macro in_days(column, days, is_date=false) -%}
{#-
    True for rows whose UTC day is one of `days` (from days_taken_in): every row when empty,
    none for 'none'. Literal dates let the planner prune partitions and use the time indexes
    at plan time.
-#}
{%- set days = days | trim -%}
{%- if not days -%}
    true
{%- elif days == 'none' -%}
    false
{%- elif 'select' in days -%}
    {%- if is_date -%}
{{ column }} in (
    {{ days | indent(4) }}
)
    {%- else -%}
        {#- the range lets the planner prune partitions and use the time indexes -#}
{{ column }} >= (
    select {{ utc_day_start('min(d.day)') }}
    from (
        {{ days | indent(8) }}
    ) as d
)
and {{ column }} < (
    select {{ utc_day_start('max(d.day) + 1') }}
    from (
        {{ days | indent(8) }}
    ) as d
)
and {{ utc_date(column) }} in (
    {{ days | indent(4) }}
)
    {%- endif -%}
{%- else -%}
    {#- `date array` is date[]: sqlfluff parses this spelling of the array type -#}
    {%- set listed = "'{" ~ days ~ "}'::date array" -%}
    {%- if is_date -%}
{{ column }} = any({{ listed }})
    {%- else -%}
{{ column }} >= {{ utc_day_start("'" ~ (days.split(',') | min) ~ "'::date") }}
and {{ column }} < {{ utc_day_start("'" ~ (days.split(',') | max) ~ "'::date + 1") }}
and {{ utc_date(column) }} = any({{ listed }})
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro runs_of_touched_agent_days(runs_relation) -%}
{#- The input of the per agent-day models: every run of each agent-day that the runs this
    build takes in touch (every run on a first build), so that a day is recomputed whole. -#}
{%- set since = earliest_taken_in(runs_relation=runs_relation) -%}
select runs.*
from {{ runs_relation }} as runs
{%- if is_incremental() %}
inner join (
    select distinct
        taken_runs.agent_id,
        {{ utc_date('taken_runs.started_at') }} as run_date
    from {{ runs_relation }} as taken_runs
    where
        {{ taken_in('runs', 'taken_runs') | indent(8) }}
    {%- if not is_unit_test(runs_relation) %}
    union
    select
        gone.agent_id,
        {{ utc_date('gone.happened_at') }}
    from (
        {{ deletions_taken_in('run') | indent(8) }}
    ) as gone
    {%- endif %}
) as touched
    on
        runs.agent_id = touched.agent_id
        and runs.started_at >= {{ utc_day_start('touched.run_date') }}
        and runs.started_at < {{ utc_day_start('touched.run_date + 1') }}
where
    runs.started_at
    >= {{ utc_day_start(utc_date(since)) | indent(4) }}
{%- endif %}
{%- endmacro %}


{% macro time_ordered_on_full_build(column) -%}
{#- Ends a grain's query. A full build writes the rows in time order: a scheduled build and
    its tests read the recent days, which then lie on a few pages at the end of the table
    instead of on nearly all of them (rows grouped by user had put the last four days of
    int_user_scope_days on 57k of its 64k pages). -#}
{%- if not is_incremental() %}
order by {{ column }}
{%- endif %}
{%- endmacro %}
