{#- SQL building blocks of the rollups: UTC days, the platform scope, stable ids and what
    an incremental build takes in. One file, so that macros calling each other also
    render in sqlfluff's offline templater. -#}

{% macro platform_scope_id() -%}
{#- Intermediate models key platform-wide rows by this id so joins need no NULL handling;
    marts turn it back into the spec's NULL workspace_id. -#}
'00000000-0000-0000-0000-000000000000'::uuid
{%- endmacro %}


{% macro workspace_from_scope(scope_column) -%}
nullif({{ scope_column }}, {{ platform_scope_id() }})
{%- endmacro %}


{% macro scope_of_grouping(workspace_column) -%}
{#- In a GROUP BY GROUPING SETS ((..., workspace), (...)): the workspace's scope, or the
    platform's in the set without it. -#}
case when grouping({{ workspace_column }}) = 1 then {{ platform_scope_id() }} else {{ workspace_column }} end
{%- endmacro %}


{% macro is_scope_grouping(workspace_column) -%}
{#- HAVING for those grouping sets: facts with no workspace count for the platform only. -#}
grouping({{ workspace_column }}) = 1 or {{ workspace_column }} is not null
{%- endmacro %}


{% macro row_id(columns) -%}
{#- A stable uuid from the row's natural key, NULLs included, so rebuilds keep the same id.
    Pass timestamps as epochs: their text depends on the session TimeZone. -#}
md5(concat_ws('|', {% for column in columns %}coalesce({{ column }}::text, '∅'){{ ', ' if not loop.last }}{% endfor %}))::uuid
{%- endmacro %}


{% macro rollup_timestamps(updated=true) -%}
{#- Bookkeeping columns: set when a row is inserted; updated_at moves (by trigger) when it changes. -#}
now() as created_at{% if updated %},
        now() as updated_at{% endif %}
{%- endmacro %}


{% macro utc_date(column) -%}
({{ column }} at time zone 'UTC')::date
{%- endmacro %}


{% macro utc_today() -%}
(now() at time zone 'UTC')::date
{%- endmacro %}


{% macro utc_day_start(day) -%}
(({{ day }})::timestamp at time zone 'UTC')
{%- endmacro %}


{% macro cohort_start(period, day) -%}
{#- The first day of the daily, weekly (ISO, from Monday) or monthly cohort period of `day`. -#}
case {{ period }}
    when 'daily' then {{ day }}
    when 'weekly' then date_trunc('week', {{ day }}::timestamp)::date
    else date_trunc('month', {{ day }}::timestamp)::date
end
{%- endmacro %}


{% macro utc_hour(column) -%}
(date_trunc('hour', {{ column }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}


{#-
    What an incremental build takes in. Events are stamped with ingested_at when they reach
    the database, runs with updated_at whenever the app changes them: both are now() of the
    writing transaction. Before a model reads anything it notes from when rows may still be
    invisible to it (the start of the oldest open transaction); after it has written, it
    records that moment (build_watermarks), and the next build takes in every row stamped
    since. What it then recomputes (user-hours, sessions, days, hours, agent-days) is the set
    those rows touch, whatever day they belong to: a late event is taken in however late.
-#}

{% macro is_backfill() -%}
{#- Renders "backfill" (true in an if) when this incremental build rebuilds chosen days. -#}
{%- if is_incremental() and var('backfill_from') is not none and var('backfill_to') is not none -%}
    backfill
{%- endif -%}
{%- endmacro %}


{% macro read_start_sql() -%}
{#- The moment from which rows may be invisible to a read that starts now: the start of the
    oldest transaction still open (a row is stamped with its transaction's start, and shows
    only once it commits), or now; the deploy's function reads it with the owner's right to see
    other sessions. Where the owner has no such right, the commit margin before now. -#}
coalesce(
    {{ internal_schema() }}.oldest_open_transaction_start(),
    now() - interval '{{ var("commit_margin") }}'
)
{%- endmacro %}


{% macro note_read_start() -%}
{#- Called first in every model that records watermarks, before it reads anything: keeps
    read_start_sql() on the connection for record_watermarks. Renders nothing. It also applies
    the build's session settings: the queries these models run while they compile (what was
    taken in, watermarks) come before the pre-hook, and with JIT on, a query over every event
    partition spent seconds compiling for milliseconds of work. -#}
{%- if execute -%}
    {%- do run_query(build_session_settings()) -%}
    {%- do pause_before_reading() -%}
    {%- do run_query(
        "select set_config('analytics.read_start_" ~ this.identifier ~ "', (" ~ build_cut_sql() ~ ")::text, false)"
    ) -%}
{%- endif -%}
{%- endmacro %}


{% macro build_cut_sql() -%}
{#- This build's cut (record_build_cut, before any model read): every model records it as its
    watermark, so what arrived before it is in every model by the end of the build, and what
    arrived after is taken in by every model in the next. A model run without the hook (no
    cut recorded for this invocation) falls back to its own read start. -#}
coalesce(
    (select cut from {{ internal_schema() }}.build_cuts where invocation_id = '{{ invocation_id }}'),
    {{ read_start_sql() }}
)
{%- endmacro %}


{% macro record_build_cut() %}
{#- on-run-start, before any model reads: the moment before which every event and run change
    has committed (read_start_sql), fixed once for the whole build. -#}
delete from {{ internal_schema() }}.build_cuts where started_at < now() - interval '7 days';
insert into {{ internal_schema() }}.build_cuts (invocation_id, cut)
values ('{{ invocation_id }}', {{ read_start_sql() }})
on conflict (invocation_id) do nothing
{% endmacro %}


{% macro pause_before_reading() -%}
{#- A seam for tests that interleave the app's writes between two models of one build: with
    var pause_before set to this model's name, the model waits, before it reads anything, for
    whoever holds the advisory lock 'agent-analytics pause' to let it go. Renders nothing. -#}
{%- if var('pause_before', none) == this.identifier -%}
    {%- do run_query(
        "select pg_advisory_lock_shared(hashtext('agent-analytics pause')); "
        ~ "select pg_advisory_unlock_shared(hashtext('agent-analytics pause'))"
    ) -%}
{%- endif -%}
{%- endmacro %}


{% macro build_watermark() -%}
{#- From when this model's last build may not have seen the rows, as a literal; empty when it
    never built. A unit test gives it as the var unit_test_watermark. (Macros here render
    their result rather than return it, so that sqlfluff's offline templater can follow them.) -#}
{%- if var('unit_test_watermark', none) -%}
    '{{ var('unit_test_watermark') }}'::timestamptz
{%- elif execute -%}
    {%- set found = run_query(
        'select read_start::text from ' ~ internal_schema() ~ ".build_watermarks where model_name = '"
        ~ this.identifier ~ "' and read_start is not null"
    ) -%}
    {%- if found.rows | length -%}
        '{{ found.columns[0].values()[0] }}'::timestamptz
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


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
    {{ happened }} >= {{ utc_day_start("'" ~ var('backfill_from') ~ "'::date") }}
    and {{ happened }} < {{ utc_day_start("'" ~ var('backfill_to') ~ "'::date + 1") }}
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
    {{ utc_period(period, 'created_at') }} as {{ as_column }},
    workspace_id,
    user_id
from {{ events }}
where {{ taken_in('events') }}
union
select
    {{ utc_period(period, 'started_at') }},
    workspace_id,
    user_id
from {{ ref('stg_app__agent_runs') }}
where {{ taken_in('runs') }}
{%- if not is_unit_test(events) %}
union
select
    {{ utc_period(period, 'happened_at') }},
    workspace_id,
    user_id
from ({{ deletions_taken_in('event', 'run') }}) as gone
{%- endif %}
{%- endmacro %}


{% macro utc_period(period, column) -%}
{%- if period == 'day' -%}
    {{ utc_date(column) }}
{%- elif period == 'hour' -%}
    {{ utc_hour(column) }}
{%- else -%}
    {{ exceptions.raise_compiler_error("utc_period: period is 'day' or 'hour', not " ~ period) }}
{%- endif -%}
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


{% macro is_unit_test(relation) -%}
{#- Renders "unit test" in a dbt unit test, whose inputs are CTEs of the query: nothing can
    be read ahead of it there. -#}
{%- if (relation | string).startswith('__dbt__cte__') -%}
    unit test
{%- endif -%}
{%- endmacro %}


{% macro earliest_taken_in(events_relation=none, runs_relation=none) -%}
{#-
    The earliest moment an event or run taken in happened, for the recompute's lower bound:
    a literal read when the model runs, so the planner prunes older partitions at plan
    time; '-infinity' when every row counts, 'infinity' when nothing new arrived.
-#}
{%- set parts = [] -%}
{%- if events_relation is not none -%}
    {%- do parts.append('(select min(created_at) from ' ~ events_relation ~ ' where ' ~ taken_in('events') ~ ')') -%}
{%- endif -%}
{%- if runs_relation is not none -%}
    {%- do parts.append('(select min(started_at) from ' ~ runs_relation ~ ' where ' ~ taken_in('runs') ~ ')') -%}
{%- endif -%}
{%- if not is_unit_test(events_relation if events_relation is not none else runs_relation) -%}
    {%- do parts.append('(select min(happened_at) from (' ~ deletions_taken_in(
        'event' if events_relation is not none else 'run', 'run' if runs_relation is not none else 'event') ~ ') as gone)') -%}
{%- endif -%}
{%- set query = 'select least(' ~ (parts | join(', ')) ~ ')' -%}
{%- if not is_incremental() -%}
    '-infinity'::timestamptz
{%- elif is_unit_test(events_relation if events_relation is not none else runs_relation) or not execute -%}
    coalesce(({{ query }}), 'infinity'::timestamptz)
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
            {{ arrivals('day', 'day') }}
        )

        select day from taken
        {%- if sessions_relation is not none and not is_backfill() %}
        union
        select spanned.day::date
        from (
            select distinct session_id from {{ events_relation }}
            where session_id is not null and {{ taken_in('events') }}
            {%- if not in_unit_test %}
            union
            select session_id from ({{ deletions_taken_in('event') }}) as gone where session_id is not null
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
            select min(scope_days.activity_date) from {{ scope_days_relation }} as scope_days
            where scope_days.scope_id = moved.scope_id and scope_days.user_id = moved.user_id
                {#- the days once, not a scan of what was taken per user #}
                and scope_days.activity_date <> all (array(select distinct taken.day from taken))
        )
        from (
            {{ users_whose_first_day_moved('(' ~ in_both_scopes('taken', 'day') ~ ')', 'day', first_seen_relation) }}
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
        select distinct hour from ({{ arrivals('hour', 'hour') }}) as taken
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
    {{ column }} >= (select min(h.hour) from ({{ hours }}) as h)
    and {{ utc_hour(column) }} in ({{ hours }})
{%- else -%}
    {%- set listed = hours.split(',') -%}
    {{ column }} >= '{{ listed | min }}'::timestamptz
    and {{ column }} < '{{ listed | max }}'::timestamptz + interval '1 hour'
    and {{ utc_hour(column) }} = any ('{{ "{" ~ hours ~ "}" }}'::timestamptz[])
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
        {{ column }} in ({{ days }})
    {%- else -%}
        {#- the range lets the planner prune partitions and use the time indexes -#}
        {{ column }} >= (select {{ utc_day_start('min(d.day)') }} from ({{ days }}) as d)
        and {{ column }} < (select {{ utc_day_start('max(d.day) + 1') }} from ({{ days }}) as d)
        and {{ utc_date(column) }} in ({{ days }})
    {%- endif -%}
{%- else -%}
    {%- set listed = "'{" ~ days ~ "}'::date[]" -%}
    {%- if is_date -%}
        {{ column }} = any ({{ listed }})
    {%- else -%}
        {{ column }} >= {{ utc_day_start("'" ~ (days.split(',') | min) ~ "'::date") }}
        and {{ column }} < {{ utc_day_start("'" ~ (days.split(',') | max) ~ "'::date + 1") }}
        and {{ utc_date(column) }} = any ({{ listed }})
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro record_watermarks() %}
{#- After the build wrote: the next one takes in what was stamped since this build's read
    started (note_read_start). A backfill rebuilds chosen days only and leaves it alone. -#}
{%- if is_backfill() %}
select 'backfill: the watermark of {{ this.identifier }} stays as it was'
{%- else %}
insert into {{ internal_schema() }}.build_watermarks (model_name, read_start, built_at)
values (
    '{{ this.identifier }}',
    coalesce(
        nullif(current_setting('analytics.read_start_{{ this.identifier }}', true), '')::timestamptz,
        now() - interval '{{ var("commit_margin") }}'
    ),
    now()
)
on conflict (model_name) do update
set read_start = excluded.read_start, built_at = excluded.built_at
{%- endif %}
{% endmacro %}


{% macro runs_of_touched_agent_days(runs_relation) -%}
{#- The input of the per agent-day models: every run of each agent-day that the runs this
    build takes in touch (every run on a first build), so that a day is recomputed whole. -#}
{%- set since = earliest_taken_in(runs_relation=runs_relation) -%}
select runs.*
from {{ runs_relation }} as runs
{%- if is_incremental() %}
inner join (
    select distinct
        agent_id,
        {{ utc_date('started_at') }} as run_date
    from {{ runs_relation }}
    where {{ taken_in('runs') }}
    {%- if not is_unit_test(runs_relation) %}
    union
    select
        agent_id,
        {{ utc_date('happened_at') }}
    from ({{ deletions_taken_in('run') }}) as gone
    {%- endif %}
) as touched
    on
        runs.agent_id = touched.agent_id
        and runs.started_at >= {{ utc_day_start('touched.run_date') }}
        and runs.started_at < {{ utc_day_start('touched.run_date + 1') }}
where runs.started_at >= {{ utc_day_start(utc_date(since)) }}
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
