{% macro create_recent_activity() %}
{#- analytics.user_activity_recent: the events of the last `recent_activity_days` days (var, 8:
    a dashboard's seven-day window and a day of margin), a plain table that the triggers below
    keep equal to that part of user_activity (docs/performance.md, "The recent events in a
    plain table"). A dashboard's event queries over the last days read it: a query on the
    partitioned table is planned partition by partition at every call (a generic plan is never
    chosen there), where this one plans like the spec's plain table. user_activity keeps every
    event and its retention by whole partitions; this table's old rows go by
    cleanup_old_data(), and until then a query's own time bound leaves them out.

    Every change to user_activity through the table itself reaches it in the same transaction:
    inserts (those of the window), deletes (erasure, a deleted user or workspace's cascade) and
    updates. The copy is an upsert: a row that differs is written again. What moves rows out of
    the DEFAULT partition (ensure_user_activity_partitions) moves them into a new partition
    without the parent, which fires no trigger and changes nothing here. The owner's DML on a
    partition itself bypasses the triggers (docs/performance.md says so). -#}
{% set s = target.schema %}
{% set internal = internal_schema() %}
{% set days = checked_var('recent_activity_days') %}
{#- Made once, from user_activity's columns, defaults and checks as they are then: a column or
    a check changed on user_activity later must be changed here too, or the copy leaves the
    column out, or refuses what user_activity accepts (a new event type) and stops its writes.

    How the window gets here without stopping the app's event writes (docs/deploy.md): the copy
    reads user_activity beside the writes, holding a row lock (FOR SHARE) on each event it copies,
    so an erasure or an update of one waits for the deploy's end and its trigger then changes the
    copy, instead of the copy putting back what it deleted. A new table is loaded before it has
    its indexes (at large, 2.3M rows: building them after is several times faster than filling
    them row by row); a table already there gets only the rows it lacks or holds differently.
    Only then are the triggers created where missing, which waits for the writes in flight and
    holds the next ones until the deploy commits; the events those writes committed since the
    copy began are copied last, by key. -#}
do $recent$
begin
    if to_regclass('{{ s }}.user_activity_recent') is null then
        create table {{ s }}.user_activity_recent (
            like {{ s }}.user_activity including defaults including constraints
        );
        {{ load_recent_events(days) | indent(8) }};
        alter table {{ s }}.user_activity_recent add constraint user_activity_recent_pkey primary key (id, created_at);
        analyze {{ s }}.user_activity_recent;
    else
        {{ repair_recent_events(days) | indent(8) }};
    end if;
end
$recent$;
comment on table {{ s }}.user_activity_recent is
'agent-analytics: the events of the last {{ days }} days, kept equal to that part of user_activity by its '
'triggers; read-only (docs/performance.md)';
{#- user_activity's indexes but the BRIN on ingested_at, which only the builds read. Without
    (user_id, created_at), a member's prepared query for their own latest events took a generic
    plan that read the workspace's index and sorted: a third of the throughput. #}
{{ create_index_if_missing('idx_user_activity_recent_user_time', s ~ '.user_activity_recent', "(user_id, created_at desc)") }};
{{ create_index_if_missing('idx_user_activity_recent_composite', s ~ '.user_activity_recent', "(workspace_id, user_id, created_at desc)") }};
{{ create_index_if_missing('idx_user_activity_recent_workspace_time', s ~ '.user_activity_recent', "(workspace_id, created_at desc)") }};
{{ create_index_if_missing('idx_user_activity_recent_session', s ~ '.user_activity_recent', "(session_id)") }};

{%- set forget = 'delete from ' ~ s ~ '.user_activity_recent as recent using gone '
    ~ 'where recent.id = gone.id and recent.created_at = gone.created_at' %}
{{ recent_events_trigger('copy', 'insert', 'referencing new table as arrived',
    [upsert_recent_events('arrived', days)]) }};
{{ recent_events_trigger('forget', 'delete', 'referencing old table as gone', [forget]) }};
{{ recent_events_trigger('change', 'update', 'referencing old table as gone new table as arrived',
    [forget, upsert_recent_events('arrived', days)]) }};
{{ recent_events_trigger('empty', 'truncate', '', ['truncate ' ~ s ~ '.user_activity_recent']) }};
{{ copy_missing_recent_events(days) }}
{% endmacro %}


{% macro recent_events_trigger(name, event, transitions, statements) %}
{#- The function analytics_internal.<name>_recent_events() running `statements` and the statement
    trigger user_activity_<name>_recent after `event` on user_activity. SECURITY DEFINER: the
    writers of user_activity (service_role, track_event's caller) have no right on the copy. -#}
create or replace function {{ internal_schema() }}.{{ name }}_recent_events()
returns trigger
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    {%- for statement in statements %}
    {{ statement | indent(4) }};
    {%- endfor %}
    return null;
end
$$;
revoke all on function {{ internal_schema() }}.{{ name }}_recent_events() from public;
{{ create_trigger_if_missing('user_activity_' ~ name ~ '_recent', target.schema ~ '.user_activity',
    'after ' ~ event ~ ' on ' ~ target.schema ~ '.user_activity ' ~ transitions ~ ' for each statement '
    ~ 'execute function ' ~ internal_schema() ~ '.' ~ name ~ '_recent_events()') }}
{%- endmacro %}


{% macro upsert_recent_events(source, days) %}
{#- The events of `source` (a trigger's transition table) of the last `days` days into
    user_activity_recent; a row there that differs is written again. -#}
insert into {{ target.schema }}.user_activity_recent as recent (
    {{ event_columns() | join(',\n    ') }}
)
select
    {{ event_columns() | join(',\n    ') }}
from {{ source }}
where {{ in_recent_window('created_at', days) }}
on conflict (id, created_at) do update
    set
        {%- for column in event_columns() if column not in event_keys() %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    where {{ events_differ('recent', 'excluded') }}
{%- endmacro %}


{% macro load_recent_events(days) %}
{#- The window of user_activity into the new, empty user_activity_recent, each event row-locked
    until the deploy commits. -#}
insert into {{ target.schema }}.user_activity_recent (
    {{ event_columns() | join(',\n    ') }}
)
select
    {{ event_columns() | join(',\n    ') }}
from {{ target.schema }}.user_activity
where {{ in_recent_window('created_at', days) }}
for share
{%- endmacro %}


{% macro repair_recent_events(days) %}
{#- The events of the window that user_activity_recent lacks (a wider window) or holds
    differently (a row the owner's DML on a partition changed behind the triggers) written again,
    each row-locked in user_activity until the deploy commits; the rest is left alone. -#}
insert into {{ target.schema }}.user_activity_recent as recent (
    {{ event_columns() | join(',\n    ') }}
)
select
    {%- for column in event_columns() %}
    event.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ target.schema }}.user_activity as event
left join {{ target.schema }}.user_activity_recent as kept
    on kept.id = event.id and kept.created_at = event.created_at
where
    {{ in_recent_window('event.created_at', days) }}
    and (kept.id is null or {{ events_differ('kept', 'event') }})
for share of event
on conflict (id, created_at) do update
    set
        {%- for column in event_columns() if column not in event_keys() %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    where {{ events_differ('recent', 'excluded') }}
{%- endmacro %}


{% macro copy_missing_recent_events(days) %}
{#- The events of the window whose key user_activity_recent lacks: those committed while it was
    being filled, before the triggers existed. -#}
insert into {{ target.schema }}.user_activity_recent (
    {{ event_columns() | join(',\n    ') }}
)
select
    {{ event_columns() | join(',\n    ') }}
from {{ target.schema }}.user_activity as event
where
    {{ in_recent_window('created_at', days) }}
    and not exists (
        select from {{ target.schema }}.user_activity_recent as kept
        where kept.id = event.id and kept.created_at = event.created_at
    )
for share
on conflict (id, created_at) do nothing
{%- endmacro %}


{% macro in_recent_window(column, days) -%}
{{ column }} >= now() - make_interval(days => {{ days }})
{%- endmacro %}


{% macro events_differ(left, right) -%}
{#- Whether two events with the same key differ in any other column (NULLs equal). -#}
(
    {%- for column in event_columns() if column not in event_keys() %}
    {{ left }}.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
) is distinct from (
    {%- for column in event_columns() if column not in event_keys() %}
    {{ right }}.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
)
{%- endmacro %}


{% macro event_keys() %}
{{ return(['id', 'created_at']) }}
{% endmacro %}


{% macro event_columns() %}
{#- user_activity's columns, named: a column added to it later comes last, so the two tables'
    orders may differ. -#}
{{ return(['id', 'user_id', 'workspace_id', 'event_type', 'event_name', 'page_path', 'session_id', 'ip_address',
           'user_agent', 'referrer', 'metadata', 'created_at', 'ingested_at']) }}
{% endmacro %}
