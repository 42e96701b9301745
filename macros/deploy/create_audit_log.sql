{#-
    Audit logging for sensitive work (the spec's "audit logging for sensitive queries"): who
    (the JWT user and the database role), when, what. Rows are written only by the project's
    SECURITY DEFINER functions and triggers; no role may insert, change or delete them, and
    members read only their workspaces' rows.
-#}

{% macro create_audit_log() %}
{% set s = target.schema %}
create table if not exists {{ s }}.audit_log (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    actor_user_id uuid,
    actor_role text not null,
    action text not null,
    workspace_id uuid,
    details jsonb not null default '{}'
);
{{ create_index_if_missing('idx_audit_log_workspace', s ~ '.audit_log', "(workspace_id, occurred_at desc)") }};

create or replace function {{ s }}.write_audit(action text, workspace_id uuid, details jsonb)
returns void
language sql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
    -- `role` is what SET ROLE chose (PostgREST: authenticated, anon or service_role); inside a
    -- SECURITY DEFINER function current_user would only name this function's owner.
    insert into {{ s }}.audit_log (actor_user_id, actor_role, action, workspace_id, details)
    values (
        (select auth.uid()),
        {{ audit_actor_role() }},
        action, workspace_id, coalesce(details, '{}'::jsonb)
    )
$$;
revoke all on function {{ s }}.write_audit(text, uuid, jsonb) from public;

{#- What a sensitive function's failure handler (macro log_failed_call) logs: one line that a
    log search (on Supabase: Log Explorer, postgres logs) finds by its prefix, with who, what and
    why. SQLSTATE and the primary message only, never DETAIL, which can hold a row's values
    (notification targets). The owner's, since the build role, which owns
    aggregate_daily_metrics(), may not read schema auth. #}
create or replace function {{ internal_schema() }}.log_failed_call(action text, error_sqlstate text, error_message text)
returns void
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    actor_user_id text;
begin
    begin
        actor_user_id := (select auth.uid())::text;
    exception when others then
        -- claims auth.uid() cannot read (a sub that is no uuid) must not hide the failure
        actor_user_id := 'unreadable';
    end;
    raise log 'agent-analytics audit: failed call %', pg_catalog.json_build_object(
        'action', action,
        'actor_user_id', actor_user_id,
        'actor_role', {{ audit_actor_role() }},
        'sqlstate', error_sqlstate,
        'message', error_message
    );
end
$$;
revoke all on function {{ internal_schema() }}.log_failed_call(text, text, text) from public;

{#- Nobody quietly rewrites the log: a row, once written, is neither changed nor deleted (only
    the owner could drop this trigger; the build role and the API roles hold no privilege on
    the table at all). #}
create or replace function {{ s }}.refuse_audit_change()
returns trigger
language plpgsql
set search_path = {{ definer_search_path() }}
as $$
begin
    -- The one change allowed: erasure replacing a gone person's or workspace's ids
    -- (analytics_internal.scrub_audit_log sets this for its own transaction; only the owner
    -- may update the table at all).
    if tg_op = 'UPDATE' and current_setting('analytics.audit_scrub', true) = 'on' then
        return new;
    end if;
    raise exception 'audit_log is append-only: % refused', tg_op using errcode = '42501';
end
$$;
revoke all on function {{ s }}.refuse_audit_change() from public;
{{ create_trigger_if_missing('audit_log_append_only', s ~ '.audit_log',
    'before update or delete on ' ~ s ~ '.audit_log for each row execute function ' ~ s ~ '.refuse_audit_change()') }};
{{ create_trigger_if_missing('audit_log_no_truncate', s ~ '.audit_log',
    'before truncate on ' ~ s ~ '.audit_log for each statement execute function ' ~ s ~ '.refuse_audit_change()') }};

{#- An alert rule as the audit log keeps it: its notification targets (webhook URLs carry
    secrets) replaced by how many there were. #}
create or replace function {{ s }}.without_secrets(rule jsonb)
returns jsonb
language sql
immutable
set search_path = {{ definer_search_path() }}
as $$
    select (rule - 'notification_recipients') || jsonb_build_object(
        'notification_recipients_count',
        case when jsonb_typeof(rule -> 'notification_recipients') = 'array'
             then jsonb_array_length(rule -> 'notification_recipients') end
    )
$$;
revoke all on function {{ s }}.without_secrets(jsonb) from public;

create or replace function {{ s }}.audit_alert_rule_change()
returns trigger
language plpgsql
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    perform {{ s }}.write_audit(
        'alert_rules.' || lower(tg_op),
        coalesce(new.workspace_id, old.workspace_id),
        jsonb_build_object(
            'rule_id', coalesce(new.id, old.id),
            'before', case when tg_op <> 'INSERT' then {{ s }}.without_secrets(to_jsonb(old)) end,
            'after', case when tg_op <> 'DELETE' then {{ s }}.without_secrets(to_jsonb(new)) end
        )
    );
    return null;
{{ log_failed_call("'alert_rules.' || pg_catalog.lower(tg_op)") }}
end
$$;
revoke all on function {{ s }}.audit_alert_rule_change() from public;
{{ create_trigger_if_missing('audit_alert_rules_change', target.schema ~ '.alert_rules',
    'after insert or update or delete on ' ~ target.schema ~ '.alert_rules for each row execute function '
    ~ target.schema ~ '.audit_alert_rule_change()') }}
{% endmacro %}


{% macro audit_actor_role() -%}
{#- SQL: the role an audit entry names. `role` is what SET ROLE chose (PostgREST: authenticated,
    anon or service_role); inside a SECURITY DEFINER function current_user would only name the
    function's owner. -#}
coalesce(nullif(pg_catalog.current_setting('role', true), 'none'), session_user)
{%- endmacro %}


{% macro log_failed_call(action) -%}
{#- The exception clause that ends the outermost block of a sensitive function (`action`: an SQL
    text expression naming the call). A failed call rolls back its audit_log row and PostgreSQL
    has no autonomous transactions, so the failure goes to the server log instead, and then
    the same error is raised again unchanged. `query_canceled` too: a statement timeout or a
    cancel fails a call as well. -#}
exception when others or query_canceled then
    perform {{ internal_schema() }}.log_failed_call({{ action }}, sqlstate, sqlerrm);
    raise;
{%- endmacro %}
