{#-
    Erasure (docs/security.md, "Erasure and retention of personal data"). When the app deletes a
    user, a workspace, an agent or a run, the raw rows behind it go with it: events by the
    foreign keys of analytics.user_activity, runs in the app. What was deleted is kept here,
    briefly, as deleted activity (when it happened, whose, where), so that the next build
    recomputes exactly what those rows had counted, at a cost that follows the deletions; the
    build then forgets it. Rows keyed by a person or a workspace that outlive the raw rows (the
    grains keep days past the 90-day purge) are removed by the build's erase_deleted_keys().

    - analytics_internal.deleted_activity: one row per deleted event-hour or run (no payload);
      emptied by each build once every model has taken it in.
    - analytics_internal.run_keys: the key of every run the build has taken in, referencing the
      app's run with ON DELETE CASCADE: a run deleted in the app, also through its agent, user
      or workspace, takes its key with it, and the trigger on the key notes it as deleted.
    - analytics_internal.erased_users: people erased on request (analytics.erase_user) before
      the app deleted them; staging leaves their rows out, and the app's delete removes them here.
-#}

{% macro create_erasure() %}
{% set s = target.schema %}
{% set internal = internal_schema() %}
{% set app = var('app_schema') %}
create table if not exists {{ internal }}.deleted_activity (
    id bigint generated always as identity primary key,
    recorded_at timestamptz not null default now(),
    source text not null check (source in ('event', 'run')),
    happened_at timestamptz not null,
    workspace_id uuid,
    user_id uuid,
    agent_id uuid,
    session_id uuid
);
comment on table {{ internal }}.deleted_activity is
'agent-analytics: deleted events (per hour) and runs, until every model has taken them in; no payload';
{{ create_index_if_missing('deleted_activity_recorded_idx', internal ~ '.deleted_activity', '(recorded_at)') }};
grant select, delete on {{ internal }}.deleted_activity to {{ build_role() }};

{#- Events: a statement-level trigger sees every row a DELETE removed (a user's or workspace's
    cascade, service_role, erase_user) at once and keeps one row per hour, user, workspace and
    session. Rows older than the retention cut are retention's (cleanup_old_data): nothing to
    recompute. #}
create or replace function {{ internal }}.note_deleted_events()
returns trigger
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    insert into {{ internal }}.deleted_activity (source, happened_at, workspace_id, user_id, session_id)
    select distinct
        'event',
        date_trunc('hour', gone.created_at at time zone 'UTC') at time zone 'UTC',
        gone.workspace_id,
        gone.user_id,
        gone.session_id
    from gone
    where gone.created_at >= now() - make_interval(days => {{ checked_var('raw_event_retention_days') }} + 1);
    return null;
end
$$;
revoke all on function {{ internal }}.note_deleted_events() from public;
{{ create_trigger_if_missing('user_activity_note_deleted', s ~ '.user_activity',
    'after delete on ' ~ s ~ '.user_activity referencing old table as gone for each statement execute function '
    ~ internal ~ '.note_deleted_events()') }};

create table if not exists {{ internal }}.run_keys (
    run_id uuid primary key references {{ app }}.agent_runs (id) on delete cascade,
    started_at timestamptz not null,
    workspace_id uuid,
    user_id uuid,
    agent_id uuid
);
comment on table {{ internal }}.run_keys is
'agent-analytics: the runs the build took in; a run deleted in the app takes its key with it (ON DELETE CASCADE)';
create table if not exists {{ internal }}.run_keys_mark (
    singleton boolean primary key default true check (singleton),
    read_start timestamptz not null
);

create or replace function {{ internal }}.note_deleted_runs()
returns trigger
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    insert into {{ internal }}.deleted_activity (source, happened_at, workspace_id, user_id, agent_id)
    select 'run', gone.started_at, gone.workspace_id, gone.user_id, gone.agent_id
    from gone;
    return null;
end
$$;
revoke all on function {{ internal }}.note_deleted_runs() from public;
{{ create_trigger_if_missing('run_keys_note_deleted', internal ~ '.run_keys',
    'after delete on ' ~ internal ~ '.run_keys referencing old table as gone for each statement execute function '
    ~ internal ~ '.note_deleted_runs()') }};

{#- Called by each build before its models read (on-run-start): the keys of the runs written
    since the last call. FOR KEY SHARE keeps each run from being deleted until the key is in
    (a run deleted meanwhile is skipped, not a foreign-key error). The first call takes every
    run: a cost paid once. #}
create or replace function {{ internal }}.register_runs()
returns integer
language plpgsql
security definer
{{ maintenance_function_settings() }}
as $$
declare
    since timestamptz := (select mark.read_start from {{ internal }}.run_keys_mark as mark);
    read_start timestamptz := coalesce(
        {{ internal }}.oldest_open_transaction_start(), now() - interval '{{ checked_var('commit_margin') }}');
    registered integer;
begin
    insert into {{ internal }}.run_keys (run_id, started_at, workspace_id, user_id, agent_id)
    select runs.id, runs.started_at, runs.workspace_id, runs.user_id, runs.agent_id
    from {{ app }}.agent_runs as runs
    where
        (since is null or runs.updated_at >= since)
        and not exists (select from {{ internal }}.erased_users as erased where erased.user_id = runs.user_id)
    for key share of runs
    on conflict (run_id) do update
    set started_at = excluded.started_at, workspace_id = excluded.workspace_id,
        user_id = excluded.user_id, agent_id = excluded.agent_id
    where (run_keys.started_at, run_keys.workspace_id, run_keys.user_id, run_keys.agent_id)
        is distinct from (excluded.started_at, excluded.workspace_id, excluded.user_id, excluded.agent_id);
    get diagnostics registered = row_count;
    insert into {{ internal }}.run_keys_mark (read_start) values (read_start)
    on conflict (singleton) do update set read_start = excluded.read_start;
    return registered;
end
$$;
revoke all on function {{ internal }}.register_runs() from public;
grant execute on function {{ internal }}.register_runs() to {{ build_role() }};

create table if not exists {{ internal }}.erased_users (
    user_id uuid primary key references {{ app }}.users (id) on delete cascade,
    erased_at timestamptz not null default now()
);
comment on table {{ internal }}.erased_users is
'agent-analytics: people erased on request before the app deleted them; staging leaves their rows out';
grant select on {{ internal }}.erased_users to {{ build_role() }};

{#- The audit log keeps who did what; once a person or workspace is gone, their ids are replaced
    (actor and workspace become NULL, the id inside details becomes "erased"). Only ids erased
    on request, or gone from the app and recorded by the log itself as an actor, a workspace or
    an alert rule's created_by (the only people and workspaces inside details): the build role,
    which calls this, can blank out neither a living person's trail nor the ids of rules and
    alerts, which are no users or workspaces either. #}
create or replace function {{ internal }}.scrub_audit_log(ids uuid array)
returns integer
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    gone uuid[];
    pattern text;
    scrubbed integer;
begin
    with candidates as (
        select distinct candidate from unnest(ids) as candidate where candidate is not null
    ),

    recorded as (
        select entry.actor_user_id as id
        from {{ s }}.audit_log as entry
        inner join candidates on entry.actor_user_id = candidates.candidate
        union
        select entry.workspace_id
        from {{ s }}.audit_log as entry
        inner join candidates on entry.workspace_id = candidates.candidate
        union
        select candidates.candidate
        from {{ s }}.audit_log as entry
        cross join lateral (
            values (entry.details -> 'before' ->> 'created_by'), (entry.details -> 'after' ->> 'created_by')
        ) as rule_rows (created_by)
        inner join candidates on rule_rows.created_by = candidates.candidate::text
        where entry.action like 'alert\_rules.%'
    )

    select coalesce(array_agg(candidates.candidate), '{}') into gone
    from candidates
    where
        exists (select from {{ internal }}.erased_users as erased where erased.user_id = candidates.candidate)
        or (
            exists (select from recorded where recorded.id = candidates.candidate)
            and not exists (select from {{ app }}.users as people where people.id = candidates.candidate)
            and not exists (select from {{ app }}.workspaces as spaces where spaces.id = candidates.candidate)
        );
    if cardinality(gone) = 0 then
        return 0;
    end if;
    -- One pass over the log for every id at once (uuid text is hex digits and dashes: safe in a regex).
    pattern := array_to_string(gone::text[], '|');
    perform pg_catalog.set_config('analytics.audit_scrub', 'on', true);
    update {{ s }}.audit_log as entry
    set actor_user_id = case when entry.actor_user_id = any(gone) then null else entry.actor_user_id end,
        workspace_id = case when entry.workspace_id = any(gone) then null else entry.workspace_id end,
        details = pg_catalog.regexp_replace(entry.details::text, pattern, 'erased', 'g')::jsonb
    where entry.actor_user_id = any(gone)
       or entry.workspace_id = any(gone)
       or entry.details::text ~ pattern;
    get diagnostics scrubbed = row_count;
    perform pg_catalog.set_config('analytics.audit_scrub', 'off', true);
    return scrubbed;
end
$$;
revoke all on function {{ internal }}.scrub_audit_log(uuid array) from public;
grant execute on function {{ internal }}.scrub_audit_log(uuid array) to {{ build_role() }};

{#- An operator's erasure on request, before (or without) the app's delete: the person's events
    go now, their runs are noted as deleted, and every build from now on leaves their rows out
    (staging) and removes what the grains kept (erase_deleted_keys). The audit row says that an
    erasure happened and how much it removed, not whom. #}
create or replace function {{ s }}.erase_user(target_user uuid)
returns integer
language plpgsql
volatile
security definer
{{ maintenance_function_settings() }}
as $$
declare
    events_deleted integer;
    runs_noted integer;
begin
    if target_user is null then
        raise exception 'erase_user: target_user must not be NULL' using errcode = '22004';
    end if;
    if not exists (select from {{ app }}.users as people where people.id = target_user) then
        raise exception 'erase_user: no user % in {{ app }}.users (a user the app deleted is erased by the next build)', target_user
            using errcode = 'P0002';
    end if;
    insert into {{ internal }}.erased_users (user_id) values (target_user) on conflict (user_id) do nothing;
    delete from {{ s }}.user_activity as events where events.user_id = target_user;
    get diagnostics events_deleted = row_count;
    delete from {{ internal }}.run_keys as runs where runs.user_id = target_user;
    get diagnostics runs_noted = row_count;
    delete from {{ internal }}.track_event_counts as counts where counts.user_id = target_user;
    perform {{ internal }}.scrub_audit_log(array[target_user]);
    perform {{ s }}.write_audit('erase_user', null, jsonb_build_object(
        'events_deleted', events_deleted, 'runs_left_out', runs_noted));
    return events_deleted;
{{ log_failed_call("'erase_user'") }}
end
$$;
revoke all on function {{ s }}.erase_user(uuid) from public;
{% endmacro %}
