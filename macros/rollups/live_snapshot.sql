{#- The live snapshot: the live part of every workspace's hours and day, computed for all of
    them at once (analytics.refresh_live_metrics(): the worker's `live` step every 30 s, or
    pg_cron's job) and read by a workspace's live call while it is at most
    live_snapshot_max_age() old; older, absent, or on a standby, the call computes its live part
    from the raw rows as before. Why: that call read its workspace's whole UTC day at every call,
    which for the busiest workspaces late in the day took tens of milliseconds
    (docs/performance.md, "The live snapshot"). How to use it: docs/live-metrics.md. -#}


{% macro live_snapshot_max_age() -%}
{#- Issue 16's promise: members read the current hour and today no more than a minute old. -#}
interval '1 minute'
{%- endmacro %}


{% macro create_live_snapshot_bookkeeping() %}
{#- Deploy step: when each snapshot was taken and from which hour it holds the live part, and
    the owner's refresh, which the worker and pg_cron call. The snapshot tables and their refresh
    functions are made by the builds of hourly_metrics and daily_metrics (their shape is the
    models'), so before the first build there is nothing to refresh. #}
{#- Unlogged like the snapshot tables, so that a crash (or a standby's promotion) empties both
    together: a record of a fresh snapshot over an emptied table would answer with no rows. #}
create unlogged table if not exists {{ internal_schema() }}.live_snapshots (
    kind text primary key check (kind in ('hourly', 'daily')),
    taken_at timestamptz not null,
    live_from timestamptz not null
);
alter table {{ internal_schema() }}.live_snapshots set unlogged;
comment on table {{ internal_schema() }}.live_snapshots is
'Each live snapshot: when it was taken (its rows are as of then), from which hour it holds the live part';
revoke all on {{ internal_schema() }}.live_snapshots from public;
grant select, insert, update, delete on {{ internal_schema() }}.live_snapshots to {{ build_role() }};

create or replace function {{ target.schema }}.refresh_live_metrics()
returns bigint
language plpgsql
security definer
{{ maintenance_function_settings() }}
as $$
declare
    v_rows bigint := 0;
begin
    {%- for kind in ['hourly', 'daily'] %}
    if pg_catalog.to_regprocedure('{{ internal_schema() }}.refresh_live_{{ kind }}_snapshot()') is not null then
        v_rows := v_rows + {{ internal_schema() }}.refresh_live_{{ kind }}_snapshot();
    end if;
    {%- endfor %}
    return v_rows;
end
$$;
revoke all on function {{ target.schema }}.refresh_live_metrics() from public
{% endmacro %}


{% macro ensure_live_snapshot_table(kind, definition, shape, time_column) %}
{#- The unlogged table live_<kind>_snapshot (no WAL: a cache, which a crash empties, and the
    functions then compute), made as `definition` unless one of the same `shape` (an SQL text
    expression: the columns it must have) is there. A table of another shape, left by an earlier
    version, is dropped and its snapshot forgotten. Not dropped otherwise: a reader that had just
    found the snapshot fresh would read an empty table. -#}
{%- set name = 'live_' ~ kind ~ '_snapshot' %}
{%- set table = internal_schema() ~ '.' ~ name %}
do $snapshot$
declare
    v_shape constant text := 'shape ' || pg_catalog.md5({{ shape }});
begin
    if pg_catalog.to_regclass('{{ table }}') is not null
        and pg_catalog.obj_description(pg_catalog.to_regclass('{{ table }}'), 'pg_class') is distinct from v_shape then
        {#- The table first, then the bookkeeping, in the order a refresh takes them. #}
        drop table {{ table }};
    end if;
    if pg_catalog.to_regclass('{{ table }}') is null then
        create unlogged table {{ table }} {{ definition }};
        create index {{ name }}_workspace on {{ table }} (workspace_id, {{ time_column }});
        revoke all on {{ table }} from public;
        execute pg_catalog.format('comment on table {{ table }} is %L', v_shape);
        delete from {{ internal_schema() }}.live_snapshots where kind = '{{ kind }}';
    end if;
end
$snapshot$;
{%- endmacro %}


{% macro create_live_snapshot_refresh(kind, live_start, query) %}
{#- refresh_live_<kind>_snapshot(): the snapshot taken again, whole, in one transaction; readers
    go on reading the one before until it commits. Two refreshes at once (the worker and
    pg_cron, say) take turns. `live_start`: where the live part starts (v_live, which `query`
    reads), as the live function computes it. Returns the rows written. -#}
{%- set table = internal_schema() ~ '.live_' ~ kind ~ '_snapshot' %}
create or replace function {{ internal_schema() }}.refresh_live_{{ kind }}_snapshot()
returns bigint
language plpgsql
security definer
{{ maintenance_function_settings() }}
{#- the live part's days are UTC days whatever the caller's session says #}
set timezone = 'UTC'
as $$
declare
    v_live constant timestamptz := {{ live_start }};
    v_rows bigint;
begin
    lock table {{ table }} in exclusive mode;
    delete from {{ table }};
    insert into {{ table }}
    {{ query | indent(4) }};
    get diagnostics v_rows = row_count;
    insert into {{ internal_schema() }}.live_snapshots as taken (kind, taken_at, live_from)
    values ('{{ kind }}', now(), v_live)
    on conflict (kind) do update set taken_at = excluded.taken_at, live_from = excluded.live_from;
    return v_rows;
end
$$;
revoke all on function {{ internal_schema() }}.refresh_live_{{ kind }}_snapshot() from public;
{%- endmacro %}


{% macro live_snapshot_is_fresh(kind) -%}
{#- In a live function, after `not pg_is_in_recovery()` was checked on its own (a standby
    refuses to plan a statement that names an unlogged table): whether the <kind> snapshot may
    answer a call whose live part starts at v_from. -#}
exists (
    select from {{ internal_schema() }}.live_snapshots as taken
    where taken.kind = '{{ kind }}'
        and taken.taken_at >= now() - {{ live_snapshot_max_age() }}
        and taken.live_from <= v_from
)
{%- endmacro %}


{% macro relation_columns_text(relation) -%}
{#- An SQL text expression: the relation's columns, names and types in order, as a snapshot
    table made `(like relation)` has them. -#}
(
    select pg_catalog.string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
    from pg_catalog.pg_attribute as a
    where a.attrelid = '{{ relation }}'::regclass and a.attnum > 0 and not a.attisdropped
)
{%- endmacro %}
