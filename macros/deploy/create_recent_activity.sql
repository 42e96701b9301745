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
    column out, or refuses what user_activity accepts (a new event type) and stops its writes. #}
create table if not exists {{ s }}.user_activity_recent (
    like {{ s }}.user_activity including defaults including constraints,
    constraint user_activity_recent_pkey primary key (id, created_at)
);
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

{#- The window copied with the writes locked out until the deploy commits: a copy that ran beside
    them could put back an event that an erasure deletes meanwhile (its snapshot still sees it),
    or miss one written before the triggers existed and committed after. The app's writes wait
    that long (docs/deploy.md). #}
lock table {{ s }}.user_activity in share row exclusive mode;
{{ upsert_recent_events(s ~ '.user_activity', days) }}
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
{#- The events of `source` (user_activity or a trigger's transition table) of the last `days`
    days into user_activity_recent; a row there that differs is written again. -#}
{%- set keys = ['id', 'created_at'] %}
insert into {{ target.schema }}.user_activity_recent as recent (
    {{ event_columns() | join(',\n    ') }}
)
select
    {{ event_columns() | join(',\n    ') }}
from {{ source }}
where created_at >= now() - make_interval(days => {{ days }})
on conflict (id, created_at) do update
    set
        {%- for column in event_columns() if column not in keys %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    where (
        {%- for column in event_columns() if column not in keys %}
        recent.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    ) is distinct from (
        {%- for column in event_columns() if column not in keys %}
        excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}


{% macro event_columns() %}
{#- user_activity's columns, named: a column added to it later comes last, so the two tables'
    orders may differ. -#}
{{ return(['id', 'user_id', 'workspace_id', 'event_type', 'event_name', 'page_path', 'session_id', 'ip_address',
           'user_agent', 'referrer', 'metadata', 'created_at', 'ingested_at']) }}
{% endmacro %}
