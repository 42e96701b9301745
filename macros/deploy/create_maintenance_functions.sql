{#- Functions that need no dbt model; created before the tables that use them. -#}

{% macro create_maintenance_functions() %}
{% set s = target.schema %}
create or replace function {{ s }}.update_updated_at()
returns trigger
language plpgsql
set search_path = {{ definer_search_path() }}
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

{#- F1 and F2: "values" is reserved, and an aggregate cannot take unnest() directly. The
    values are sorted once for all the percentiles (percentile_cont of an array): once per
    percentile, a member's call of 60 KB (5,000 of each) held a core for the 8 s of the
    statement timeout. NULL per percentile when there are no values; NULL for no percentiles. #}
create or replace function {{ s }}.calculate_percentiles("values" numeric array, percentiles numeric array)
returns numeric array
language sql
immutable
parallel safe
set search_path = {{ definer_search_path() }}
as $$
    select
        case when cardinality(percentiles) > 0 then coalesce(
            (
                select percentile_cont(array(select unnest(percentiles))::double precision array)
                    within group (order by v)
                from unnest("values") as v
            ),
            array_fill(null::double precision, array[cardinality(percentiles)])
        )::numeric array end
$$;

{#- The membership list for RLS, read once per statement, past RLS on workspace_members.
    PL/pgSQL, whose plan is kept for the session: a SQL function that cannot be inlined (it is
    a SECURITY DEFINER) plans its query again in every statement that calls it, which cost a
    member's dashboard query more than the query itself (docs/performance.md). #}
create or replace function {{ s }}.member_workspace_ids()
returns setof uuid
language plpgsql
stable
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    return query
    select members.workspace_id from {{ var('app_schema') }}.workspace_members as members
    where members.user_id = (select auth.uid());
end
$$;
revoke all on function {{ s }}.member_workspace_ids() from public;
grant execute on function {{ s }}.member_workspace_ids() to authenticated, service_role;

{#- For incremental builds (macro read_start_sql): the start of the oldest transaction open in
    this database, or now; NULL when the owner cannot see other sessions (pg_read_all_stats,
    which Supabase's postgres has through pg_monitor). Runs as the owner, so the build role
    needs no such right. #}
create or replace function {{ internal_schema() }}.oldest_open_transaction_start()
returns timestamptz
language sql
stable
security definer
set search_path = {{ definer_search_path() }}
as $$
    select case
        when pg_catalog.pg_has_role('pg_read_all_stats', 'usage') then least(now(), coalesce((
            select min(sessions.xact_start)
            from pg_catalog.pg_stat_activity as sessions
            where
                sessions.datname = pg_catalog.current_database()
                and sessions.backend_type = 'client backend'
                and sessions.pid <> pg_catalog.pg_backend_pid()
                and sessions.xact_start is not null
        ), now()))
    end
$$;
revoke all on function {{ internal_schema() }}.oldest_open_transaction_start() from public;

{#- Weekly partitions (ISO weeks, Monday to Monday, UTC): a dashboard's seven-day window
    plans two partitions instead of eight day ones, and the planning was the cost of its event
    queries (docs/performance.md). A week that already has day partitions, made by an earlier
    version, gets day partitions for its other days too; retention drops both kinds. #}
create or replace function {{ s }}.ensure_user_activity_partitions(first_day date, last_day date)
returns integer
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
{#- The bounds below are written into the DDL as text: under a caller's DateStyle of SQL or
    Postgres that text carried a zone abbreviation (CST) which reads back as another zone, and
    the partition came out hours off, overlapping the next week's. #}
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
declare
    wanted record;
    created integer := 0;
begin
    if first_day is null or last_day is null or last_day < first_day then
        raise exception 'ensure_user_activity_partitions: need first_day <= last_day, got % and %', first_day, last_day;
    end if;
    {#- Partition names carry the day as eight digits, which retention reads back. #}
    if first_day < date '0001-01-01' or last_day > date '9999-12-24' then
        raise exception 'ensure_user_activity_partitions: days must lie within the years 1 to 9999, got % and %',
            first_day, last_day;
    end if;
    {#- Retention drops old weeks only: a week made far ahead stays, and each one more is
        planned by every event query that cannot prune it and slows the app's writes. #}
    if last_day > (now() at time zone 'UTC')::date + 366 then
        raise exception 'ensure_user_activity_partitions: % is more than 366 days ahead of today (UTC); partitions are made at most that far ahead', last_day;
    end if;
    if last_day - first_day > 3660 then
        raise exception 'ensure_user_activity_partitions: % days is more than ten years of partitions', last_day - first_day;
    end if;
    for wanted in
        with weeks as (
            select
                week.week_start::date as week_start,
                exists (
                    select from generate_series(week.week_start, week.week_start + interval '6 days', interval '1 day') as day
                    where to_regclass(format('{{ s }}.%I', 'user_activity_p' || to_char(day, 'YYYYMMDD'))) is not null
                ) as has_day_partitions
            from generate_series(
                date_trunc('week', first_day::timestamp), date_trunc('week', last_day::timestamp), interval '7 days'
            ) as week (week_start)
        )

        select 'user_activity_w' || to_char(weeks.week_start, 'YYYYMMDD') as partition_name,
            weeks.week_start as lower_day, weeks.week_start + 7 as upper_day
        from weeks
        where not weeks.has_day_partitions
        union all
        select 'user_activity_p' || to_char(day, 'YYYYMMDD'), day::date, day::date + 1
        from weeks
        cross join lateral generate_series(
            greatest(weeks.week_start, first_day)::timestamp, least(weeks.week_start + 6, last_day)::timestamp,
            interval '1 day'
        ) as day
        where weeks.has_day_partitions
    loop
        continue when to_regclass(format('{{ s }}.%I', wanted.partition_name)) is not null;
        -- Created apart, then attached: ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the
        -- parent, so the app goes on writing events (CREATE ... PARTITION OF would lock it out).
        execute format(
            'create table {{ s }}.%I (like {{ s }}.user_activity including defaults including constraints)',
            wanted.partition_name
        );
        -- Rows that reached the default partition before this range had one move straight into
        -- the new table (no temporary table: a caller could have made one of that name first).
        execute format(
            'with moved as (delete from {{ s }}.user_activity_default where created_at >= %L and created_at < %L '
            'returning *) insert into {{ s }}.%I select * from moved',
            wanted.lower_day::timestamp at time zone 'UTC', wanted.upper_day::timestamp at time zone 'UTC',
            wanted.partition_name
        );
        execute format(
            'alter table {{ s }}.user_activity attach partition {{ s }}.%I for values from (%L) to (%L)',
            wanted.partition_name, wanted.lower_day::timestamp at time zone 'UTC',
            wanted.upper_day::timestamp at time zone 'UTC'
        );
        created := created + 1;
    end loop;
    return created;
end
$$;
revoke all on function {{ s }}.ensure_user_activity_partitions(date, date) from public;
grant execute on function {{ s }}.ensure_user_activity_partitions(date, date) to service_role;

{#- S12: retention drops whole partitions instead of one huge DELETE. It keeps raw events
    for at least the last 90 full UTC days and today: the week that straddles the cut-off is
    kept whole rather than half-deleted row by row, so an event is kept 90 to 97 days. Day
    partitions of an earlier version go by their day. #}
create or replace function {{ s }}.cleanup_old_data()
returns void
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    first_kept_day date := ((now() - make_interval(days => {{ checked_var('raw_event_retention_days') }})) at time zone 'UTC')::date;
    hourly_cutoff timestamptz := now() - make_interval(days => {{ checked_var('hourly_retention_days') }});
    part record;
begin
    {#- Not beside a deploy: one that widens recent_activity_days writes the copy's added days
        before its step commits, which the window this function was made with would delete.
        Waits for a deploy in flight (deploy.sql holds this lock for the whole deploy), then
        reads the window the copy's triggers have. #}
    {{ wait_for_a_deploy_in_flight('cleanup_old_data') | indent(4) }}
    perform {{ s }}.write_audit('cleanup_old_data', null, jsonb_build_object(
        'events_before', first_kept_day, 'hourly_before', hourly_cutoff));
    for part in
        select c.oid::regclass as partition
        from pg_catalog.pg_inherits as i
        inner join pg_catalog.pg_class as c on c.oid = i.inhrelid
        where i.inhparent = '{{ s }}.user_activity'::regclass
          and (
              (c.relname ~ '^user_activity_p[0-9]{8}$'
               and to_date(substring(c.relname from '[0-9]{8}$'), 'YYYYMMDD') < first_kept_day)
              or (c.relname ~ '^user_activity_w[0-9]{8}$'
                  and to_date(substring(c.relname from '[0-9]{8}$'), 'YYYYMMDD') + 7 <= first_kept_day)
          )
    loop
        execute format('drop table %s', part.partition);
    end loop;
    -- Old rows that reached the DEFAULT partition (their day had no partition) go too.
    delete from {{ s }}.user_activity_default where created_at < (first_kept_day::timestamp at time zone 'UTC');
    -- the recent events past their window, or past retention if that is shorter
    delete from {{ s }}.user_activity_recent
    where created_at < greatest(
        first_kept_day::timestamp at time zone 'UTC',
        now() - make_interval(days => coalesce(
            {{ days_the_recent_triggers_copy() | indent(12) }},
            {{ checked_var('recent_activity_days') }}
        ))
    );
    delete from {{ s }}.hourly_metrics where metric_hour < hourly_cutoff;
    -- messages delivered or given up on: their attempts stay in alert_history.notifications_sent
    delete from {{ s }}.alert_notifications where status <> 'pending' and created_at < hourly_cutoff;
    -- track_event's counts of past minutes, those of users deleted since among them. A count
    -- that a call is changing is left for the next cleanup: that call waits for user_activity,
    -- which the partitions dropped above hold, so waiting for it here would be a deadlock.
    delete from {{ internal_schema() }}.track_event_counts
    where user_id in (
        select past.user_id from {{ internal_schema() }}.track_event_counts as past
        where past.minute < date_trunc('minute', now(), 'UTC')
        for update skip locked
    );
{{ log_failed_call("'cleanup_old_data'") }}
end
$$;
revoke all on function {{ s }}.cleanup_old_data() from public;
grant execute on function {{ s }}.cleanup_old_data() to service_role;
{% endmacro %}


{% macro wait_for_a_deploy_in_flight(function_name) %}
{#- A PL/pgSQL block that takes the deploy's lock shared, waiting for a deploy in flight. Under a
    statement timeout (PostgREST's 8 s) it waits until half a second before it, then stops with
    an error that says why, not the timeout's; with none (the worker, pg_cron) as long as the
    deploy takes. The caller's lock_timeout, if shorter, still applies. -#}
declare
    lock_timeout_before text := pg_catalog.current_setting('lock_timeout');
    left_ms bigint := (
        select settings.setting::bigint
            - (1000 * extract(epoch from pg_catalog.clock_timestamp() - pg_catalog.statement_timestamp()))::bigint
            - 500
        from pg_catalog.pg_settings as settings
        where settings.name = 'statement_timeout' and settings.setting <> '0'
    );
begin
    if left_ms is not null and (lock_timeout_before = '0' or left_ms < (
        select settings.setting::bigint from pg_catalog.pg_settings as settings where settings.name = 'lock_timeout'
    )) then
        perform pg_catalog.set_config('lock_timeout', greatest(left_ms, 1)::text, true);
    end if;
    perform pg_catalog.pg_advisory_xact_lock_shared({{ deploy_lock_key() }});
    perform pg_catalog.set_config('lock_timeout', lock_timeout_before, true);
exception when lock_not_available then
    raise exception '{{ function_name }}: a deploy is running; call it again when the deploy has finished'
        using errcode = 'lock_not_available',
        hint = 'it waits for a deploy in flight, and was called under a statement or lock timeout shorter than the deploy';
end;
{%- endmacro %}


{% macro ensure_default_partitions() %}
{#- Partitions from the late-event lookback to a week ahead, so scheduled builds keep them ready. #}
select {{ target.schema }}.ensure_user_activity_partitions(
    (now() at time zone 'UTC')::date - {{ checked_var('lookback_days') }},
    (now() at time zone 'UTC')::date + {{ checked_var('partitions_ahead_days') }}
)
{% endmacro %}


{% macro create_refresh_function() %}
{#- S13: only the owner may refresh, so the function runs as the owner and only service_role may call it.
    Each table's refresh function is made by its build (macros/materializations/refreshed_table.sql). -#}
create or replace function {{ target.schema }}.refresh_all_materialized_views()
returns void
language plpgsql
security definer
{{ maintenance_function_settings() }}
as $$
begin
    perform {{ target.schema }}.write_audit('refresh_all_materialized_views', null, '{}');
    perform {{ internal_schema() }}.refresh_mv_active_users();
    perform {{ internal_schema() }}.refresh_mv_top_agents();
    perform {{ internal_schema() }}.refresh_mv_workspace_summary();
{{ log_failed_call("'refresh_all_materialized_views'") }}
end
$$
{% endmacro %}
