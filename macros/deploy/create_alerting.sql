{#-
    Alerting beyond the spec's two tables (docs/alerts.md): the catalogue of metrics a rule may
    watch, the checks a rule passes when written, each rule's state, the notifications waiting
    to be delivered, the per-workspace signing secrets and the acknowledge RPC.
    The evaluation itself is analytics.evaluate_alerts() (create_alert_evaluation.sql); the
    delivery is `agent-analytics alerts run` (agent_analytics.alerts).
-#}

{% macro alert_metrics() %}
{#- [metric_type, source, unit, zero when nothing is in the window, highest threshold,
     conditions, description]. source: runs (started in the window), events (created in the
     window), arrivals (events ingested and runs written in the window). -#}
{% set any_condition = ['greater_than', 'less_than', 'equals'] %}
{% set most = 99999999.99 %}
{{ return([
    ['total_runs', 'runs', 'runs', true, most, any_condition, 'runs started in the window'],
    ['failed_runs', 'runs', 'runs', true, most, any_condition, 'runs started in the window that failed'],
    ['error_rate', 'runs', 'percent', false, 100, any_condition,
     'failed runs as a percentage of the runs started in the window; no value when none started'],
    ['total_credits', 'runs', 'credits', true, most, any_condition, 'credits consumed by the runs started in the window'],
    ['avg_run_seconds', 'runs', 'seconds', false, most, any_condition,
     'average runtime of the runs started in the window that have one; no value when none has'],
    ['active_users', 'events', 'users', true, most, any_condition, 'distinct users with an event in the window'],
    ['avg_response_time_ms', 'events', 'ms', false, most, any_condition,
     'average response_time_ms of the api_call events in the window; no value when there were none'],
    ['p95_response_time_ms', 'events', 'ms', false, most, any_condition,
     '95th percentile of response_time_ms of the api_call events in the window; no value when there were none'],
    ['errors', 'events', 'events', true, most, any_condition, 'error events in the window'],
    ['no_data', 'arrivals', 'rows', true, most, ['less_than'],
     'events and run updates that arrived in the window; less_than 1 fires when nothing arrived'],
    ['pipeline_lag_minutes', 'lag', 'minutes', true, 525600, ['greater_than'],
     'platform only: minutes the oldest row no build has taken in has waited (pipeline_lag); no window'],
    ['pipeline_failures', 'pipeline', 'steps', true, most, any_condition,
     'platform only: pipeline steps that failed or were abandoned in the window (pipeline_runs)'],
]) }}
{% endmacro %}


{% macro alert_channels() -%}
{{ return(['email', 'slack', 'webhook']) }}
{%- endmacro %}


{% macro create_alert_catalogue() %}
{% set s = target.schema %}
create table if not exists {{ s }}.alert_metrics (
    metric_type varchar(50) primary key,
    source text not null,
    unit text not null,
    zero_when_empty boolean not null,
    min_threshold numeric(10, 2) not null default 0,
    max_threshold numeric(10, 2) not null,
    conditions text [] not null,
    description text not null
);
comment on table {{ s }}.alert_metrics is
'agent-analytics: what an alert rule may watch (metric_type), its unit, threshold range and conditions';
insert into {{ s }}.alert_metrics
(metric_type, source, unit, zero_when_empty, max_threshold, conditions, description)
values
{%- for metric, source, unit, zero, highest, conditions, description in alert_metrics() %}
(
    '{{ metric }}', '{{ source }}', '{{ unit }}', {{ 'true' if zero else 'false' }}, {{ highest }},
    array['{{ conditions | join("', '") }}'],
    '{{ description }}'
){{ ',' if not loop.last }}
{%- endfor %}
on conflict (metric_type) do update set
    source = excluded.source,
    unit = excluded.unit,
    zero_when_empty = excluded.zero_when_empty,
    max_threshold = excluded.max_threshold,
    conditions = excluded.conditions,
    description = excluded.description;
delete from {{ s }}.alert_metrics
where metric_type <> all(array[
    {%- for metric in alert_metrics() | map("first") %}
    '{{ metric }}'{{ ',' if not loop.last }}
    {%- endfor %}
])
{% endmacro %}


{% macro create_alert_rule_checks() %}
{#- A rule is checked when it is written, with a message that names what is wrong; rules
    stored before these checks existed are evaluated as far as they can be and never break an
    evaluation (evaluate_alerts skips what it cannot read). -#}
{% set s = target.schema %}
{#- Each of a rule's recipients with the channel it goes to: an object names its channel; an
    address goes by email; a URL goes to Slack when Slack is the rule's only URL channel or
    the URL is Slack's, to the webhook otherwise. NULL channel: it fits none. #}
create or replace function {{ s }}.alert_rule_targets(channels jsonb, recipients jsonb)
returns table (channel text, target text)
language sql
immutable
set search_path = {{ definer_search_path() }}
as $$
    select
        case
            when pg_catalog.jsonb_typeof(r.value) = 'object' then r.value ->> 'channel'
            when pg_catalog.jsonb_typeof(r.value) <> 'string' then null
            when (r.value #>> '{}') ~* '^https?://' then
                case
                    when
                        channels ? 'slack'
                        and (not channels ? 'webhook' or (r.value #>> '{}') ~* '^https://hooks\.slack\.com/')
                        then 'slack'
                    when channels ? 'webhook' then 'webhook'
                end
            when channels ? 'email' then 'email'
        end as channel,
        case
            when pg_catalog.jsonb_typeof(r.value) = 'object' then r.value ->> 'target'
            else r.value #>> '{}'
        end as target
    from pg_catalog.jsonb_array_elements(
        case when pg_catalog.jsonb_typeof(recipients) = 'array' then recipients else '[]'::jsonb end
    ) as r (value)
$$;
revoke all on function {{ s }}.alert_rule_targets(jsonb, jsonb) from public;

create or replace function {{ s }}.check_alert_rule()
returns trigger
language plpgsql
set search_path = {{ definer_search_path() }}
as $$
declare
    metric record;
    problem text;
    target record;
    listed text;
begin
    select m.* into metric from {{ s }}.alert_metrics as m where m.metric_type = new.metric_type;
    if not found then
        problem := pg_catalog.format('metric_type %L is not in the catalogue (analytics.alert_metrics): use one of %s',
            new.metric_type, (select pg_catalog.string_agg(m.metric_type, ', ' order by m.metric_type)
                              from {{ s }}.alert_metrics as m));
    elsif pg_catalog.btrim(new.name) = '' then
        problem := 'name is empty';
    elsif new.workspace_id is null and current_user in ('authenticated', 'anon') then
        problem := 'a rule without a workspace watches the whole platform; only service_role writes one';
    elsif new.workspace_id is not null and metric.source in ('lag', 'pipeline') then
        problem := pg_catalog.format('%s watches the whole pipeline: its rule has no workspace (workspace_id null)',
            new.metric_type);
    elsif new.condition <> all(metric.conditions) then
        problem := pg_catalog.format('condition %L does not apply to %s: use %s',
            new.condition, new.metric_type, pg_catalog.array_to_string(metric.conditions, ' or '));
    elsif new.threshold_value not between metric.min_threshold and metric.max_threshold then
        problem := pg_catalog.format('threshold_value %s is out of range for %s (%s to %s %s)',
            new.threshold_value, new.metric_type, metric.min_threshold, metric.max_threshold, metric.unit);
    elsif new.evaluation_window_minutes is null or new.evaluation_window_minutes not between 1 and 1440 then
        problem := pg_catalog.format('evaluation_window_minutes must be between 1 and 1440 (a day), not %s',
            coalesce(new.evaluation_window_minutes::text, 'null'));
    elsif new.pending_minutes not between 0 and 1440 then
        problem := pg_catalog.format('pending_minutes must be between 0 and 1440, not %s', new.pending_minutes);
    elsif new.renotify_minutes is not null and new.renotify_minutes not between 1 and 10080 then
        problem := pg_catalog.format('renotify_minutes must be between 1 and 10080 (a week), or null for never, not %s',
            new.renotify_minutes);
    elsif new.recovery_threshold is not null and (
        new.condition = 'equals'
        or (new.condition = 'greater_than' and new.recovery_threshold > new.threshold_value)
        or (new.condition = 'less_than' and new.recovery_threshold < new.threshold_value)
    ) then
        problem := pg_catalog.format(
            'recovery_threshold %s must be on the resolving side of threshold_value %s (%s) for condition %s',
            new.recovery_threshold, new.threshold_value,
            case new.condition when 'greater_than' then 'at most' when 'less_than' then 'at least'
                 else 'none: equals has no recovery margin' end,
            new.condition);
    elsif pg_catalog.jsonb_typeof(coalesce(new.notification_channels, '[]')) <> 'array' then
        problem := 'notification_channels must be a JSON array, such as ["webhook"]';
    elsif pg_catalog.jsonb_typeof(coalesce(new.notification_recipients, '[]')) <> 'array' then
        problem := 'notification_recipients must be a JSON array of URLs and addresses';
    elsif pg_catalog.jsonb_array_length(coalesce(new.notification_recipients, '[]')) > 20 then
        problem := 'notification_recipients has more than 20 targets';
    end if;
    if problem is null then
        for listed in select pg_catalog.jsonb_array_elements(coalesce(new.notification_channels, '[]')) #>> '{}' loop
            if listed is null or listed <> all(array['{{ alert_channels() | join("', '") }}']) then
                problem := pg_catalog.format('notification channel %s is not one of {{ alert_channels() | join(", ") }}',
                    coalesce(pg_catalog.quote_literal(listed), 'null'));
            elsif (select pg_catalog.count(*) from pg_catalog.jsonb_array_elements_text(new.notification_channels) as c
                   where c = listed) > 1 then
                problem := pg_catalog.format('notification channel %s is listed twice', listed);
            elsif not exists (
                select from {{ s }}.alert_rule_targets(new.notification_channels, new.notification_recipients) as t
                where t.channel = listed
            ) then
                problem := pg_catalog.format('notification channel %s has no recipient in notification_recipients',
                    listed);
            end if;
            exit when problem is not null;
        end loop;
    end if;
    if problem is null then
        for target in
            select * from {{ s }}.alert_rule_targets(new.notification_channels, new.notification_recipients)
        loop
            if target.channel is null or not coalesce(new.notification_channels, '[]') ? target.channel then
                problem := pg_catalog.format('recipient %s fits none of the rule''s channels (%s)',
                    coalesce(pg_catalog.left(target.target, 80), 'null'),
                    coalesce(new.notification_channels, '[]'));
            elsif target.target is null or pg_catalog.length(target.target) > 2048 then
                problem := 'a recipient is empty or longer than 2048 characters';
            elsif target.channel = 'email' and target.target !~ '^[^@\s<>,;"]+@[^@\s<>,;"]+\.[^@\s<>,;".]+$' then
                problem := pg_catalog.format('recipient %L is not an email address', pg_catalog.left(target.target, 80));
            elsif target.channel in ('webhook', 'slack') and target.target !~* '^https?://[^/?#\s@]+([/?#]\S*)?$' then
                problem := pg_catalog.format('recipient for %s is not an http(s) URL with a host: %s',
                    target.channel, pg_catalog.left(pg_catalog.split_part(target.target, '?', 1), 80));
            end if;
            exit when problem is not null;
        end loop;
    end if;
    if problem is not null then
        raise exception 'alert rule %: %', coalesce(pg_catalog.quote_literal(new.name), 'without a name'), problem
            using errcode = 'check_violation',
                  hint = 'docs/alerts.md lists the metrics, their ranges and the form of channels and recipients';
    end if;
    return new;
end
$$;
revoke all on function {{ s }}.check_alert_rule() from public;
{{ create_trigger_if_missing('check_alert_rule', s ~ '.alert_rules',
    'before insert or update of metric_type, condition, threshold_value, evaluation_window_minutes, pending_minutes, '
    ~ 'recovery_threshold, renotify_minutes, notification_channels, notification_recipients, workspace_id, name '
    ~ 'on ' ~ s ~ '.alert_rules for each row execute function ' ~ s ~ '.check_alert_rule()') }}
{% endmacro %}


{% macro create_alert_state_tables() %}
{% set s = target.schema %}
{% set app = var('app_schema') %}
{#- Where each active rule stands, written by every evaluation. -#}
create table if not exists {{ s }}.alert_rule_states (
    alert_rule_id uuid primary key references {{ s }}.alert_rules (id) on delete cascade,
    workspace_id uuid references {{ app }}.workspaces (id) on delete cascade,
    state varchar(20) not null default 'ok',
    state_since timestamptz not null,
    last_value numeric,
    changed_at timestamptz not null,  -- when its state or value last changed
    constraint alert_rule_states_state_check check (state in ('ok', 'pending', 'firing'))
);
{{ create_index_if_missing('idx_alert_rule_states_workspace', s ~ '.alert_rule_states', "(workspace_id)") }};

{# One message to one target: the id is its idempotency key, the same at every attempt. #}
create table if not exists {{ s }}.alert_notifications (
    id uuid primary key default gen_random_uuid(),
    alert_id uuid not null references {{ s }}.alert_history (id) on delete cascade,
    alert_rule_id uuid references {{ s }}.alert_rules (id) on delete cascade,
    workspace_id uuid references {{ app }}.workspaces (id) on delete cascade,
    event varchar(20) not null,
    channel varchar(20) not null,
    target text not null,
    payload jsonb not null,
    status varchar(20) not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    last_error text,
    constraint alert_notifications_event_check check (event in ('firing', 'renotify', 'resolved')),
    constraint alert_notifications_channel_check check (channel in ('{{ alert_channels() | join("', '") }}')),
    constraint alert_notifications_status_check check (status in ('pending', 'sent', 'failed'))
);
{{ create_index_if_missing('idx_alert_notifications_due', s ~ '.alert_notifications',
    "(next_attempt_at) where status = 'pending'") }};
{{ create_index_if_missing('idx_alert_notifications_alert', s ~ '.alert_notifications', "(alert_id)") }};
{{ create_index_if_missing('idx_alert_notifications_rule', s ~ '.alert_notifications', "(alert_rule_id)") }};
{{ create_index_if_missing('idx_alert_notifications_workspace', s ~ '.alert_notifications', "(workspace_id)") }};

{# The key a workspace's webhooks are signed with (X-Analytics-Signature); the row with no
    workspace signs the platform-wide rules'. #}
create table if not exists {{ s }}.webhook_secrets (
    workspace_id uuid references {{ app }}.workspaces (id) on delete cascade,
    secret text not null,
    created_at timestamptz not null default now(),
    constraint webhook_secrets_workspace_key unique nulls not distinct (workspace_id)
);
comment on table {{ s }}.webhook_secrets is
'agent-analytics: the HMAC-SHA256 key of each workspace''s webhook signatures; service_role reads and rotates it';
{% endmacro %}


{% macro create_alert_api() %}
{% set s = target.schema %}
{#- The workspace's key, made the first time it is asked for (a concurrent first call finds the
    other's row). #}
create or replace function {{ s }}.webhook_secret(workspace uuid)
returns text
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    insert into {{ s }}.webhook_secrets (workspace_id, secret) values (workspace, {{ new_webhook_secret() }})
    on conflict (workspace_id) do nothing;
    return (select w.secret from {{ s }}.webhook_secrets as w where w.workspace_id is not distinct from workspace);
end
$$;
revoke all on function {{ s }}.webhook_secret(uuid) from public;

create or replace function {{ s }}.rotate_webhook_secret(workspace uuid)
returns text
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    new_secret text := {{ new_webhook_secret() }};
begin
    perform {{ s }}.write_audit('rotate_webhook_secret', workspace, '{}'::jsonb);
    insert into {{ s }}.webhook_secrets (workspace_id, secret) values (workspace, new_secret)
    on conflict (workspace_id) do update set secret = excluded.secret, created_at = now();
    return new_secret;
{{ log_failed_call("'rotate_webhook_secret'") }}
end
$$;
revoke all on function {{ s }}.rotate_webhook_secret(uuid) from public;

{#- An owner or admin of the alert's workspace (or service_role) acknowledges it: a firing
    alert is no longer sent again; notes are kept (replaced when given again). The same error
    for an alert that does not exist and one the caller may not touch, so that it tells
    nothing about other workspaces. #}
create or replace function {{ s }}.acknowledge_alert(alert_id uuid, notes text default null)
returns {{ s }}.alert_history
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    alert {{ s }}.alert_history;
    caller uuid;
begin
    if pg_catalog.length(notes) > 4000 then
        raise exception 'acknowledge_alert: notes are longer than 4000 characters' using errcode = '22001';
    end if;
    if not {{ requested_as_service_role() }} then
        caller := (select auth.uid());
    end if;
    select h.* into alert from {{ s }}.alert_history as h
    where h.id = acknowledge_alert.alert_id and {{ manages_workspace('h.workspace_id') | indent(6) }}
    for update;
    if not found then
        raise exception 'acknowledge_alert: no alert % in a workspace you own or administer', alert_id
            using errcode = '42501';
    end if;
    update {{ s }}.alert_history as h
    set acknowledged_by = coalesce(h.acknowledged_by, caller),
        acknowledged_at = coalesce(h.acknowledged_at, pg_catalog.now()),
        notes = coalesce(acknowledge_alert.notes, h.notes)
    where h.id = alert.id
    returning h.* into alert;
    perform {{ s }}.write_audit('acknowledge_alert', alert.workspace_id, pg_catalog.jsonb_build_object(
        'alert_id', alert.id, 'alert_rule_id', alert.alert_rule_id,
        'notes_length', pg_catalog.length(acknowledge_alert.notes)));
    return alert;
{{ log_failed_call("'acknowledge_alert'") }}
end
$$;
revoke all on function {{ s }}.acknowledge_alert(uuid, text) from public
{% endmacro %}


{% macro new_webhook_secret() -%}
{#- 244 random bits (two version-4 UUIDs) from the server's strong random source, as 64 hex
    digits, without pgcrypto. -#}
pg_catalog.replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
{%- endmacro %}
