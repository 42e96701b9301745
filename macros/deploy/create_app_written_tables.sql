{#-
    Tables that hold what the app writes. They are dbt sources, not models, so no build,
    --full-refresh included, can drop or empty them. Every statement is idempotent.
-#}

{% macro create_index_if_missing(name, table, definition, unique=false) -%}
{#- The app writes these tables while builds run. CREATE INDEX IF NOT EXISTS takes a SHARE
    lock before it looks, so every build would wait for the open writes and hold up the next
    ones behind it; looking the name up first takes no lock at all. -#}
do $index$
begin
    if to_regclass('{{ table.split('.')[0] }}.{{ name }}') is null then
        create {{ 'unique ' if unique }}index {{ name }} on {{ table }} {{ definition }};
    end if;
end
$index$
{%- endmacro %}


{% macro drop_index_if_present(name, schema) -%}
{#- An index this project made once and no longer makes (docs/spec-deviations.md says why).
    DROP INDEX locks the app's writes out for its moment: it waits at most a second for
    them, and when they hold on, the next build tries again. -#}
do $drop_index$
begin
    if to_regclass('{{ schema }}.{{ name }}') is not null then
        {{ waiting_briefly('1s', 'drop index ' ~ schema ~ '.' ~ name,
            "raise notice 'index " ~ schema ~ "." ~ name ~ " is no longer needed; the app kept the table busy, so a later build drops it'")
            | indent(8) }}
    end if;
end
$drop_index$
{%- endmacro %}


{% macro waiting_briefly(lock_timeout, statements, when_busy) -%}
{#- A PL/pgSQL block that runs `statements` waiting at most `lock_timeout` for each lock, and
    `when_busy` instead when one is not had in time; the session's lock_timeout is as it was
    after it either way (a failed block's setting rolls back with it). For a change that locks
    the app's writes out: it must not queue them behind a long wait. -#}
declare
    lock_timeout_before text := pg_catalog.current_setting('lock_timeout');
begin
    perform pg_catalog.set_config('lock_timeout', '{{ lock_timeout }}', true);
    {{ statements | indent(4) }};
    perform pg_catalog.set_config('lock_timeout', lock_timeout_before, true);
exception when lock_not_available then
    {{ when_busy | indent(4) }};
end;
{%- endmacro %}


{% macro create_trigger_if_missing(name, table, definition) -%}
{#- CREATE OR REPLACE TRIGGER locks out writes to the table; the function it runs is replaced
    on its own, so the trigger itself is only created when missing. One found disabled or set to
    fire only on a replica, or with a partition's clone of it so, is enabled again, the clones
    with it (the deploy runs its step again for that: deploy.sql). That waits half a second at
    most for the table's writes in flight, less than deadlock_timeout: should one of them wait
    for a lock this step holds, the enable gives up, not the app's write; the trigger then
    stays disabled, and the next deploy tries again. -#}
do $trigger$
declare
    found_trigger oid;
    enabled "char";
begin
    select oid, tgenabled into found_trigger, enabled
    from pg_catalog.pg_trigger where tgrelid = '{{ table }}'::regclass and tgname = '{{ name }}';
    if not found then
        create trigger {{ name }} {{ definition }};
    elsif enabled not in ('O', 'A') or exists (
        select from pg_catalog.pg_trigger where tgparentid = found_trigger and tgenabled not in ('O', 'A')
    ) then
        {{ waiting_briefly('500ms',
            'alter table ' ~ table ~ ' enable trigger ' ~ name ~ ";\nraise warning 'trigger " ~ name ~ ' on ' ~ table
                ~ " was disabled: enabled again'",
            "raise warning 'trigger " ~ name ~ ' on ' ~ table ~ " stays disabled: the table was busy; the next deploy tries again'")
            | indent(8) }}
    end if;
end
$trigger$
{%- endmacro %}


{% macro event_types() %}
{#- The event types the spec allows; the CHECK constraint and track_event() both use this list. -#}
{{ return(['page_view', 'agent_run', 'login', 'logout', 'workspace_switch', 'feature_use', 'error',
           'api_call', 'export', 'report_view']) }}
{% endmacro %}


{% macro create_user_activity_table() %}
{% set s = target.schema %}
create table if not exists {{ s }}.user_activity (
    id uuid not null default gen_random_uuid(),
    user_id uuid not null references {{ var('app_schema') }}.users (id) on delete cascade,
    workspace_id uuid references {{ var('app_schema') }}.workspaces (id) on delete cascade,
    event_type varchar(50) not null,
    event_name varchar(100),
    page_path varchar(255),
    session_id uuid,
    ip_address inet,
    user_agent text,
    referrer text,
    metadata jsonb default '{}',
    created_at timestamptz not null default now(),
    {#- when the row reached the database (not in the spec): what incremental builds take in #}
    ingested_at timestamptz not null default now(),
    constraint user_activity_pkey primary key (id, created_at),
    constraint valid_event_type check (
        event_type in (
            {%- for kind in event_types() %}
            '{{ kind }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
    )
) partition by range (created_at);

{#- A table from before ingested_at: its rows count as arriving now, so the next build takes
    them all in once. Instant: the default is evaluated once, not written into every row.
    Looked up first: ALTER TABLE ... IF NOT EXISTS would lock out the app's writes to look. #}
do $column$
begin
    if not exists (
        select from pg_catalog.pg_attribute
        where attrelid = '{{ s }}.user_activity'::regclass and attname = 'ingested_at' and not attisdropped
    ) then
        alter table {{ s }}.user_activity add column ingested_at timestamptz not null default now();
    end if;
end
$column$;

{#- Events whose day has no partition yet land here and move out when it is created. #}
create table if not exists {{ s }}.user_activity_default
partition of {{ s }}.user_activity default;

{#- When a row arrived is the database's to say: a caller-chosen ingested_at in the past would
    hide the event from the incremental builds, one in the future would make every build take
    it in again. Only the owner (a bulk load of history) may set it. #}
create or replace function {{ s }}.stamp_ingested_at()
returns trigger
language plpgsql
set search_path = {{ definer_search_path() }}
as $$
begin
    if new.ingested_at is distinct from now() and not pg_has_role(current_user, '{{ target.user }}', 'USAGE') then
        new.ingested_at := now();
    end if;
    return new;
end
$$;
revoke all on function {{ s }}.stamp_ingested_at() from public;
{{ create_trigger_if_missing('stamp_ingested_at', s ~ '.user_activity',
    'before insert on ' ~ s ~ '.user_activity for each row execute function ' ~ s ~ '.stamp_ingested_at()') }};

{% endmacro %}


{% macro create_user_activity_indexes() %}
{#- At every deploy: repairs what a bulk load left behind, then makes what is missing. -#}
{% set s = target.schema %}
{#- An index left invalid (a bulk load or a CREATE INDEX that stopped half way) serves no
    query and would never be made again by `if not exists`: drop it, so it is built again. #}
do $repair$
declare
    broken record;
begin
    for broken in
        select i.indexrelid::regclass as index_name
        from pg_catalog.pg_index as i
        where i.indrelid = '{{ s }}.user_activity'::regclass and not i.indisvalid
    loop
        execute format('drop index %s', broken.index_name);
    end loop;
end
$repair$;

{{ create_index_if_missing('idx_user_activity_user_time', s ~ '.user_activity', "(user_id, created_at desc)") }};
{{ create_index_if_missing('idx_user_activity_workspace_time', s ~ '.user_activity', "(workspace_id, created_at desc)") }};
{{ create_index_if_missing('idx_user_activity_session', s ~ '.user_activity', "(session_id)") }};
{#- The spec's GIN index on metadata: every metadata query here is bounded by workspace and
    time, which the btree indexes serve; the GIN index was never used and cost a tenth of the
    table's size and every insert (docs/performance.md). #}
{{ drop_index_if_present('idx_user_activity_metadata', s) }};
{#- The spec's BRIN on created_at and its (event_type, created_at) index: the partitions are
    by created_at already and no query here leads with the event type (pg_stat_user_indexes
    after a build and the event queries under load: 0 and 122 scans over 100 partitions), while
    every index is planned on each partition an event query opens (docs/performance.md). #}
{{ drop_index_if_present('idx_user_activity_created_at_brin', s) }};
{{ drop_index_if_present('idx_user_activity_event_type', s) }};
{{ create_index_if_missing('idx_user_activity_composite', s ~ '.user_activity', "(workspace_id, user_id, created_at desc)") }};
{#- Rows are appended in arrival order, so a BRIN finds what arrived since the last build in
    a few pages; summarized as ranges fill, so only the newest pages are always read. #}
{{ create_index_if_missing('idx_user_activity_ingested_at', s ~ '.user_activity', "using brin (ingested_at) with (autosummarize = on)") }};
{% endmacro %}


{% macro create_alert_tables() %}
{% set s = target.schema %}
create table if not exists {{ s }}.alert_rules (
    id uuid primary key default gen_random_uuid(),
    workspace_id uuid references {{ var('app_schema') }}.workspaces (id) on delete cascade,
    name varchar(255) not null,
    description text,
    is_active boolean default true,
    metric_type varchar(50) not null,
    condition varchar(20) not null,
    threshold_value numeric(10, 2) not null,
    evaluation_window_minutes integer default 5,
    notification_channels jsonb default '[]',
    notification_recipients jsonb default '[]',
    last_triggered_at timestamptz,
    trigger_count integer default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references {{ var('app_schema') }}.users (id) on delete set null,
    constraint alert_rules_condition_check check (condition in ('greater_than', 'less_than', 'equals')),
    constraint alert_rules_evaluation_window_check check (evaluation_window_minutes > 0)
);
{{ create_index_if_missing('idx_alert_rules_workspace', s ~ '.alert_rules', "(workspace_id)") }};
{{ create_index_if_missing('idx_alert_rules_active', s ~ '.alert_rules', "(is_active) where is_active = true") }};
{{ create_index_if_missing('idx_alert_rules_created_by', s ~ '.alert_rules', "(created_by)") }};

create table if not exists {{ s }}.alert_history (
    id uuid primary key default gen_random_uuid(),
    alert_rule_id uuid references {{ s }}.alert_rules (id) on delete cascade,
    workspace_id uuid references {{ var('app_schema') }}.workspaces (id) on delete cascade,
    triggered_at timestamptz not null default now(),
    metric_value numeric(10, 2),
    threshold_value numeric(10, 2),
    notifications_sent jsonb default '[]',
    notification_status varchar(20) default 'pending',
    acknowledged_by uuid references {{ var('app_schema') }}.users (id) on delete set null,
    acknowledged_at timestamptz,
    notes text,
    constraint alert_history_notification_status_check check (
        notification_status in ('pending', 'sent', 'failed', 'acknowledged')
    )
);
{{ create_index_if_missing('idx_alert_history_rule', s ~ '.alert_history', "(alert_rule_id, triggered_at desc)") }};
{{ create_index_if_missing('idx_alert_history_workspace', s ~ '.alert_history', "(workspace_id, triggered_at desc)") }};
{{ create_index_if_missing('idx_alert_history_acknowledged_by', s ~ '.alert_history', "(acknowledged_by)") }};
{#- a dashboard's open alerts: the workspace index alone walks past every acknowledged one #}
{{ create_index_if_missing('idx_alert_history_open', s ~ '.alert_history', "(workspace_id, triggered_at desc) where acknowledged_at is null") }};

{{ create_trigger_if_missing('update_alert_rules_updated_at', s ~ '.alert_rules',
    'before update on ' ~ s ~ '.alert_rules for each row execute function ' ~ s ~ '.update_updated_at()') }};

{#- What a rule needs beyond the spec's columns to behave as an alert (docs/alerts.md): how
    long the condition must hold before it fires, the value it must come back past to resolve,
    how often a firing alert is sent again, and a silence. #}
alter table {{ s }}.alert_rules
add column if not exists pending_minutes integer not null default 0,
add column if not exists recovery_threshold numeric(10, 2),
add column if not exists renotify_minutes integer,
add column if not exists silenced_until timestamptz;
{#- One row per firing episode: it opens firing and is closed when the rule resolves. #}
{#- Rows of an earlier version, one per evaluation that found the condition, are closed. #}
alter table {{ s }}.alert_history
add column if not exists state varchar(20) not null default 'resolved',
add column if not exists resolved_at timestamptz,
add column if not exists resolved_value numeric(10, 2),
add column if not exists last_notified_at timestamptz;
alter table {{ s }}.alert_history alter column state set default 'firing';
do $state$
begin
    if not exists (
        select from pg_catalog.pg_constraint
        where conrelid = '{{ s }}.alert_history'::regclass and conname = 'alert_history_state_check'
    ) then
        alter table {{ s }}.alert_history add constraint alert_history_state_check
            check (state in ('firing', 'resolved'));
    end if;
end
$state$;
{#- the evaluation finds each rule's open episode, of which there is at most one #}
{{ create_index_if_missing('idx_alert_history_firing', s ~ '.alert_history', "(alert_rule_id) where state = 'firing'", unique=true) }}
{% endmacro %}


{% macro create_build_watermarks_table() %}
{#- From when each incremental model's last build may not have seen the rows written, so the
    next build takes in everything stamped since (macro taken_in). #}
create table if not exists {{ internal_schema() }}.build_watermarks (
    model_name text primary key,
    read_start timestamptz,
    built_at timestamptz not null default now()
);
{#- A table from an earlier version: its models take in everything once. #}
alter table {{ internal_schema() }}.build_watermarks add column if not exists read_start timestamptz;
alter table {{ internal_schema() }}.build_watermarks drop column if exists runs_updated_at;
alter table {{ internal_schema() }}.build_watermarks drop column if exists events_read_at;
alter table {{ internal_schema() }}.build_watermarks drop column if exists runs_read_at;
grant select, insert, update, delete on {{ internal_schema() }}.build_watermarks to {{ build_role() }};
{#- One cut per build (macro record_build_cut): the watermark every model of that build records. #}
create table if not exists {{ internal_schema() }}.build_cuts (
    invocation_id text primary key,
    cut timestamptz not null,
    started_at timestamptz not null default now()
);
grant select, insert, delete on {{ internal_schema() }}.build_cuts to {{ build_role() }}
{% endmacro %}
