{% macro create_track_event_limit() %}
{#- How many events a signed-in user may record through track_event() in a minute (docs/security.md,
    "How many events a user may record"). Any user who can sign up can call track_event(); without
    a limit one account could fill the event table and the platform's figures. The limit is stored
    in the database, so that an operator changes it without a deploy, seeded from the dbt var
    track_event_per_minute; set_track_event_limit() changes it, audited.

    The count is one row per user (their latest UTC minute and the events in it), written in the
    caller's own transaction: a refused call raises, which rolls its count back with it, so a
    user at the limit stays there and their next minute starts afresh. Unlogged: a crash forgets
    the counts, which only lets a minute start again; nothing else reads them. No foreign key to
    the app's users: deleting a user would then lock their count after their row, where
    track_event locks the count first and the user's row (its event's foreign key) after, a
    deadlock. erase_user() deletes a user's count, and cleanup_old_data() every count of a past
    minute, a deleted user's too (skipping those a call holds: that call may be waiting for the
    partitions cleanup_old_data() drops). -#}
{% set s = target.schema %}
{% set internal = internal_schema() %}
{% set per_minute = checked_var('track_event_per_minute') %}
create table if not exists {{ internal }}.track_event_limit (
    only_row boolean primary key default true check (only_row),
    events_per_minute integer not null check (events_per_minute between 1 and {{ max_track_event_per_minute() }}),
    updated_at timestamptz not null default now()
);
comment on table {{ internal }}.track_event_limit is
'agent-analytics: how many events a signed-in user may record through track_event() in a minute; one row';
revoke all on {{ internal }}.track_event_limit from public, anon, authenticated, service_role;
insert into {{ internal }}.track_event_limit (events_per_minute) values ({{ per_minute }})
on conflict (only_row) do nothing;

{#- fillfactor: room on each page for the new version of a row that every call changes, so the
    update stays on its page (HOT) and touches no index. #}
create unlogged table if not exists {{ internal }}.track_event_counts (
    user_id uuid primary key,
    minute timestamptz not null,
    events integer not null
) with (fillfactor = 50);
comment on table {{ internal }}.track_event_counts is
'agent-analytics: events each user recorded through track_event() in the current UTC minute (unlogged)';
revoke all on {{ internal }}.track_event_counts from public, anon, authenticated, service_role;

create or replace function {{ s }}.set_track_event_limit(events_per_minute integer)
returns integer
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    if events_per_minute is null or events_per_minute not between 1 and {{ max_track_event_per_minute() }} then
        raise exception 'set_track_event_limit: events_per_minute must be from 1 to {{ max_track_event_per_minute() }}, not %',
            coalesce(events_per_minute::text, 'NULL')
            using errcode = '22023';
    end if;
    perform {{ s }}.write_audit('set_track_event_limit', null,
        pg_catalog.jsonb_build_object('events_per_minute', events_per_minute));
    insert into {{ internal }}.track_event_limit as limits (events_per_minute)
    values (set_track_event_limit.events_per_minute)
    on conflict (only_row) do update
    set events_per_minute = excluded.events_per_minute, updated_at = now();
    return events_per_minute;
end
$$;
revoke all on function {{ s }}.set_track_event_limit(integer) from public
{% endmacro %}


{% macro max_track_event_per_minute() -%}
1000000
{%- endmacro %}

