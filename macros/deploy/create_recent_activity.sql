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
{#- Made once, from user_activity's columns and defaults as they are then: a column changed on
    user_activity later must be changed here too, or the copy leaves it out. The copy has no
    CHECK of its own: every row comes from user_activity, which checked it, and a check left
    behind when user_activity's changes (a new event type) would refuse the trigger's copy of
    an event, and so stop the app's write of it (a copy of an earlier version loses its checks
    in drop_recent_activity_checks).

    How the window gets here with the app's event writes held as briefly as it can (docs/deploy.md,
    docs/performance.md). Beside the writes: a new table is loaded before it has indexes (at
    large, 2.3M rows: several times faster than into them); over a table already there, the keys
    of the rows it lacks, holds differently or should not hold are noted (one join of the
    window; before it, when the window grows, its added days are written, which no trigger of
    the app's writes copies until the step commits). Then the triggers are created where
    missing and user_activity is locked against writes until the step commits, and under that
    lock the copy catches up: the rows whose version a transaction wrote that the snapshot
    taken before the load or the join did not see (inserted or updated since; the snapshot is
    kept in a transaction-local setting), the noted rows, and, if the two tables then count
    different numbers of the events written before the lock, those deleted since. That reads
    the window once. A cursor left open until the step commits keeps vacuum from freezing
    those rows (a frozen row no longer says which transaction wrote it). Nothing is locked or
    written in user_activity or written over in the copy before the table lock: a write waiting
    on such a row while the table lock waited on that write would deadlock. -#}
do $recent$
declare
    pinned refcursor := 'user_activity_recent_load_pin';
    triggers_days integer;
    written_before timestamptz := 'infinity';
begin
    open pinned for select;
    perform set_config('{{ recent_load_setting('loaded_from') }}', pg_catalog.pg_current_snapshot()::text, true);
    if to_regclass('{{ s }}.user_activity_recent') is null then
        create table {{ s }}.user_activity_recent (
            like {{ s }}.user_activity including defaults
        );
        {{ load_recent_events(days) | indent(8) }};
        alter table {{ s }}.user_activity_recent add constraint user_activity_recent_pkey primary key (id, created_at);
        analyze {{ s }}.user_activity_recent;
    else
        triggers_days := {{ days_the_recent_triggers_copy() | indent(8) }};
        if triggers_days is not null then
            written_before := {{ older_than_the_recent_triggers_copy('triggers_days') | indent(12) }};
            {{ copy_recent_events_the_triggers_leave(days, 'written_before') | indent(12) }};
        end if;
        {{ note_recent_events_to_fix(days) | indent(8) }};
    end if;
    {#- In UTC, year first: read back the same whatever the session's DateStyle. #}
    perform set_config('{{ recent_load_setting('written_before') }}', case
        when written_before = 'infinity' then 'infinity'
        else to_char(written_before at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
    end, true);
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
lock table {{ s }}.user_activity in share row exclusive mode;
do $recent_catch_up$
declare
    loaded_from pg_snapshot := current_setting('{{ recent_load_setting('loaded_from') }}')::pg_snapshot;
    written_before timestamptz := current_setting('{{ recent_load_setting('written_before') }}')::timestamp at time zone 'UTC';
    next_xid bigint := pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint;
begin
    {{ copy_recent_events_written_since(days, 'loaded_from', 'next_xid') | indent(4) }};
    if to_regclass('pg_temp.user_activity_recent_to_fix') is not null then
        {{ fix_noted_recent_events(days) | indent(8) }};
    end if;
    {#- Only rows written before the lock can outlive a delete meanwhile: the app's triggers
        did not see them. Elsewhere their delete triggers kept the copy. #}
    if (
        select count(*) from {{ s }}.user_activity_recent
        where {{ in_recent_window('created_at', days) }} and created_at < written_before
    ) <> (
        select count(*) from {{ s }}.user_activity
        where {{ in_recent_window('created_at', days) }} and created_at < written_before
    ) then
        {{ forget_gone_recent_events(days) | indent(8) }};
    end if;
    perform set_config('{{ recent_load_setting('loaded_from') }}', '', true);
    perform set_config('{{ recent_load_setting('written_before') }}', '', true);
end
$recent_catch_up$
{% endmacro %}


{% macro recent_load_setting(what) -%}
{#- A transaction-local setting by which the step's first DO block tells the catch-up what it
    did: `loaded_from`, the snapshot before the load or the join; `written_before`, the time
    before which events of the window may have been written into the copy beside the app's
    writes, unseen by their delete triggers (infinity: the whole window). -#}
agent_analytics.recent_activity_{{ what }}
{%- endmacro %}


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
{{ insert_recent_events_from() }}
from {{ source }} as event
where {{ in_recent_window('event.created_at', days) }}
{{ rewrite_differing_recent_event() }}
{%- endmacro %}


{% macro load_recent_events(days) %}
{#- The window of user_activity into the new, empty user_activity_recent. -#}
{{ insert_recent_events_from() }}
from {{ target.schema }}.user_activity as event
where {{ in_recent_window('event.created_at', days) }}
{%- endmacro %}


{% macro note_recent_events_to_fix(days) %}
{#- The keys of the events of the window that user_activity_recent lacks (a wider window), holds
    differently or holds and user_activity does not (rows the owner's DML on a partition changed
    behind the triggers), as they are before the lock: in a temporary table the catch-up under
    the lock reads. Noted, not written, so that no trigger of the app's writes can wait on a row
    this transaction wrote while the lock waits on that write. -#}
create temporary table user_activity_recent_to_fix on commit drop as
select coalesce(event.id, kept.id) as id, coalesce(event.created_at, kept.created_at) as created_at
from (
    select * from {{ target.schema }}.user_activity where {{ in_recent_window('created_at', days) }}
) as event
full join (
    select * from {{ target.schema }}.user_activity_recent where {{ in_recent_window('created_at', days) }}
) as kept
    on event.id = kept.id and event.created_at = kept.created_at
where event.id is null or kept.id is null or {{ events_differ('kept', 'event') }}
{%- endmacro %}


{% macro days_the_recent_triggers_copy() -%}
{#- The window of the copy trigger committed now (the app's writes see a deploy's trigger
    functions only once it commits), read from its definition; NULL unless the four triggers
    are there and enabled (else the copy may lack what their writes did). -#}
case when (
    select count(*) from pg_catalog.pg_trigger
    where
        tgrelid = '{{ target.schema }}.user_activity'::regclass and tgenabled in ('O', 'A')
        and tgname in (
            {%- for name in recent_event_triggers() %}
            'user_activity_{{ name }}_recent'{{ ',' if not loop.last }}
            {%- endfor %}
        )
) = {{ recent_event_triggers() | length }} then substring(
    pg_catalog.pg_get_functiondef(to_regprocedure('{{ internal_schema() }}.copy_recent_events()'))
    from 'make_interval\(days => ([0-9]+)\)'
)::integer end
{%- endmacro %}


{% macro copy_recent_events_the_triggers_leave(days, before) %}
{#- The events of the window from before `before` (older_than_the_recent_triggers_copy) written
    into user_activity_recent beside the app's writes: their triggers upsert no such event, so
    none waits on a row written here (a delete of one does not see it; the catch-up under the
    lock puts right what they changed meanwhile). An event the copy holds already is left to
    the join that notes what differs; taking its row here would make a delete of it wait. -#}
{{ insert_recent_events_from() }}
from {{ target.schema }}.user_activity as event
where
    {{ in_recent_window('event.created_at', days) }}
    and event.created_at < {{ before }}
on conflict (id, created_at) do nothing
{%- endmacro %}


{% macro older_than_the_recent_triggers_copy(triggers_days) -%}
{#- Where the window of the triggers that the app's writes fire ends, for every transaction
    open now: theirs ends `triggers_days` before the transaction began. Without the right to
    see other roles' sessions (pg_read_all_stats), an hour before now; an app transaction open
    longer than that which then writes an event of those days would deadlock with the lock
    below (one of the two fails). -#}
least(
    now() - interval '1 hour',
    (select min(xact_start) from pg_catalog.pg_stat_activity
     where backend_type = 'client backend' and pid <> pg_catalog.pg_backend_pid())
) - make_interval(days => {{ triggers_days }})
{%- endmacro %}


{% macro fix_noted_recent_events(days) %}
{#- The noted events made equal to user_activity as it is now: deleted where it no longer holds
    them, written again where it does. -#}
delete from {{ target.schema }}.user_activity_recent as recent
using pg_temp.user_activity_recent_to_fix as noted
where recent.id = noted.id and recent.created_at = noted.created_at;
{{ insert_recent_events_from() }}
from {{ target.schema }}.user_activity as event
inner join pg_temp.user_activity_recent_to_fix as noted
    on event.id = noted.id and event.created_at = noted.created_at
where {{ in_recent_window('event.created_at', days) }}
{{ rewrite_differing_recent_event() }}
{%- endmacro %}


{% macro copy_recent_events_written_since(days, snapshot, next_xid) %}
{#- The events of the window whose row version a transaction wrote that `snapshot` (a
    pg_snapshot) may not have seen, written into user_activity_recent where they differ: those
    of every transaction from the snapshot's xmin on. Those the snapshot saw among them are
    taken too, since a row written in a subtransaction (a savepoint, an exception block) carries
    the subtransaction's id, which pg_visible_in_snapshot takes for visible when its top
    transaction was still open. A row's xmin is the 32-bit id of that transaction; it is
    widened to the 64-bit id pg_snapshot holds against `next_xid`, the next id now (every xmin
    still in a table is within 2^31 of it); 0 to 2 are the ids of frozen rows, which are
    old. -#}
{%- set xid = 'event.xmin::text::bigint' %}
{%- set next = next_xid %}
{%- set widened = '((' ~ next ~ ') >> 32 << 32) + ' ~ xid %}
{{ insert_recent_events_from() }}
from {{ target.schema }}.user_activity as event
where
    {{ in_recent_window('event.created_at', days) }}
    and {{ xid }} > 2
    and {{ widened }} - case when {{ widened }} >= {{ next }} then 4294967296 else 0 end
        >= pg_catalog.pg_snapshot_xmin({{ snapshot }})::text::bigint
{{ rewrite_differing_recent_event() }}
{%- endmacro %}


{% macro forget_gone_recent_events(days) %}
{#- The events of the window that user_activity_recent holds and user_activity no longer does
    (deleted since the load) deleted. -#}
delete from {{ target.schema }}.user_activity_recent as kept
where
    {{ in_recent_window('kept.created_at', days) }}
    and not exists (
        select from {{ target.schema }}.user_activity as event
        where
            {{ in_recent_window('event.created_at', days) }}
            and event.id = kept.id and event.created_at = kept.created_at
    )
{%- endmacro %}


{% macro insert_recent_events_from() -%}
{#- The head of an insert into user_activity_recent (aliased recent) of every column of the
    events its FROM names `event`. -#}
insert into {{ target.schema }}.user_activity_recent as recent (
    {{ event_columns() | join(',\n    ') }}
)
select
    {%- for column in event_columns() %}
    event.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{% macro rewrite_differing_recent_event() -%}
{#- The conflict clause of an insert into user_activity_recent (aliased recent): an event it
    holds already is written again only where it differs. -#}
on conflict (id, created_at) do update
    set
        {%- for column in event_columns() if column not in event_keys() %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    where {{ events_differ('recent', 'excluded') | indent(4) }}
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


{% macro recent_event_triggers() %}
{#- The names of the four triggers create_recent_activity makes (user_activity_<name>_recent). -#}
{{ return(['copy', 'forget', 'change', 'empty']) }}
{% endmacro %}


{% macro event_keys() %}
{{ return(['id', 'created_at']) }}
{% endmacro %}


{% macro event_columns() %}
{#- user_activity's columns, named: a column added to it later comes last, so the two tables'
    orders may differ. -#}
{{ return(['id', 'user_id', 'workspace_id', 'event_type', 'event_name', 'page_path', 'session_id', 'ip_address',
           'user_agent', 'referrer', 'metadata', 'created_at', 'ingested_at']) }}
{% endmacro %}


{% macro drop_recent_activity_checks() %}
{#- At every deploy: the CHECKs that a copy made by an earlier version took from user_activity,
    dropped (create_recent_activity says why). Dropping one locks the copy out of reads and
    writes until its step commits, so it waits a second at most for the readers in flight;
    failing that, it says so and the next deploy tries again. -#}
do $recent_checks$
declare
    check_name name;
begin
    for check_name in
        select conname from pg_catalog.pg_constraint
        where conrelid = to_regclass('{{ target.schema }}.user_activity_recent') and contype = 'c'
    loop
        {{ waiting_briefly('1s',
            "execute format('alter table " ~ target.schema ~ ".user_activity_recent drop constraint %I', check_name)",
            "raise warning 'user_activity_recent keeps its check % until a deploy finds no reader for a second', check_name")
            | indent(8) }}
    end loop;
end
$recent_checks$
{% endmacro %}
