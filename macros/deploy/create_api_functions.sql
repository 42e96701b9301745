{#-
    What signed-in clients may call (PostgREST exposes functions as /rpc/...). Each is
    SECURITY DEFINER with an empty search_path, checks the caller's membership itself, and
    is executable by authenticated (and service_role) only.
-#}

{% macro create_api_functions() %}
{% set s = target.schema %}
{% set app = var('app_schema') %}
{% set trusted_proxies = checked_var('trusted_proxies') %}
{% set per_minute = checked_var('track_event_per_minute') %}
{#- The client's address as proxies define X-Forwarded-For: each proxy appends the address it
    saw, so only the entries the trusted proxies added can be believed; the client's is the
    one `trusted_proxies` entries from the right (var trusted_proxies: 1 for Supabase's API
    gateway). Whatever does not parse as a single address gives NULL, never an error. #}
create or replace function {{ s }}.client_address(
    forwarded_for text,
    trusted_proxies integer default {{ trusted_proxies }}
)
returns inet
language plpgsql
immutable
parallel safe
set search_path = {{ definer_search_path() }}
as $$
declare
    hops text[];
    hop text;
begin
    if forwarded_for is null or trusted_proxies is null or trusted_proxies < 1 or length(forwarded_for) > 4096 then
        return null;
    end if;
    hops := regexp_split_to_array(btrim(forwarded_for), '\s*,\s*');
    if cardinality(hops) < trusted_proxies then
        return null;
    end if;
    hop := btrim(hops[cardinality(hops) - trusted_proxies + 1], ' "');
    if hop ~ '^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$' then
        hop := substring(hop from '^\[([0-9A-Fa-f:.]+)\]');   -- [2001:db8::1]:443
    elsif hop ~ '^[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]+$' then
        hop := split_part(hop, ':', 1);                        -- 203.0.113.7:51234
    end if;
    if hop !~ '^[0-9A-Fa-f:.]+$' then
        return null;                                           -- unknown, obfuscated names, masks
    end if;
    return hop::inet;
exception when others then
    return null;
end
$$;
revoke all on function {{ s }}.client_address(text, integer) from public;

{#- PostgREST's request headers (lower-cased names) as an object; anything else as none. #}
create or replace function {{ s }}.request_headers()
returns jsonb
language plpgsql
stable
set search_path = {{ definer_search_path() }}
as $$
declare
    headers jsonb;
begin
    headers := nullif(current_setting('request.headers', true), '')::jsonb;
    return case when jsonb_typeof(headers) = 'object' then headers else '{}'::jsonb end;
exception when others then
    return '{}'::jsonb;
end
$$;
revoke all on function {{ s }}.request_headers() from public;

create or replace function {{ s }}.track_event(
    event_type text,
    workspace_id uuid default null,
    event_name text default null,
    page_path text default null,
    session_id uuid default null,
    metadata jsonb default '{}',
    referrer text default null,
    occurred_at timestamptz default null
)
returns uuid
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    caller uuid := (select auth.uid());
    happened timestamptz := coalesce(occurred_at, now());
    headers jsonb := {{ s }}.request_headers();
    new_id uuid := gen_random_uuid();
    calls_this_minute integer;
    per_minute integer;
begin
    if caller is null then
        raise exception 'track_event: no signed-in user (the request has no JWT sub)' using errcode = '28000';
    end if;
    if not exists (select from {{ app }}.users as people where people.id = caller) then
        raise exception 'track_event: no user % in {{ app }}.users', caller using errcode = '28000';
    end if;
    {#- Counted once the caller is known to the app and before any other lookup, so that a flood
        is refused cheaply; a refused call rolls its count back. A request that began in an
        earlier minute than the count's counts in the count's: it neither starts the minute again
        nor moves it back. service_role may insert events directly: not counted. #}
    if not {{ requested_as_service_role() }} then
        insert into {{ internal_schema() }}.track_event_counts as counts (user_id, minute, events)
        values (caller, date_trunc('minute', now(), 'UTC'), 1)
        on conflict (user_id) do update
        set minute = greatest(counts.minute, excluded.minute),
            events = case when excluded.minute > counts.minute then 1 else counts.events + 1 end
        returning counts.events into calls_this_minute;
        select coalesce(max(limits.events_per_minute), {{ per_minute }}) into per_minute
        from {{ internal_schema() }}.track_event_limit as limits;
        if calls_this_minute > per_minute then
            raise exception 'track_event: more than % events in a minute from this user', per_minute
                using errcode = 'PT429', hint = 'wait for the next minute (UTC)';
        end if;
    end if;
    if event_type is null or event_type <> all (array[{% for kind in event_types() %}'{{ kind }}'{{ ', ' if not loop.last }}{% endfor %}]) then
        raise exception 'track_event: unknown event type %', coalesce(quote_literal(event_type), 'NULL')
            using errcode = '22023',
                  hint = 'one of {{ event_types() | join(", ") }}';
    end if;
    if workspace_id is not null and not exists (
        select from {{ app }}.workspace_members as m
        where m.workspace_id = track_event.workspace_id and m.user_id = caller
    ) then
        raise exception 'track_event: you are not a member of workspace %', workspace_id using errcode = '42501';
    end if;
    if metadata is null or jsonb_typeof(metadata) <> 'object' then
        raise exception 'track_event: metadata must be a JSON object' using errcode = '22023';
    end if;
    if octet_length(metadata::text) > 8192 then
        raise exception 'track_event: metadata is % bytes; the limit is 8192', octet_length(metadata::text)
            using errcode = '22001';
    end if;
    if length(event_name) > 100 or length(page_path) > 255 or length(referrer) > 2048 then
        raise exception 'track_event: event_name (100), page_path (255) or referrer (2048 characters) is too long'
            using errcode = '22001';
    end if;
    if event_type = 'api_call' and metadata ? 'response_time_ms'
        and (jsonb_typeof(metadata -> 'response_time_ms') <> 'number'
             or (metadata ->> 'response_time_ms')::numeric not between 0 and {{ max_response_time_ms() }}) then
        raise exception 'track_event: metadata.response_time_ms must be a number of milliseconds from 0 to {{ max_response_time_ms() }}'
            using errcode = '22023';
    end if;
    if happened < now() - interval '{{ checked_var('lookback_days') }} days' or happened > now() + interval '5 minutes' then
        raise exception 'track_event: occurred_at % is outside the last {{ checked_var('lookback_days') }} days', happened
            using errcode = '22023';
    end if;
    {#- Whose the session is, from one of its events: every event recorded here was checked so,
        so a session has one user (only service_role's own inserts can mix them). One row, not
        every other user's row: looking for those read all of the session's events at each call,
        slower the longer the session. #}
    if session_id is not null and caller <> coalesce((
        select a.user_id from {{ s }}.user_activity as a
        where a.session_id = track_event.session_id
          and a.created_at > now() - interval '{{ checked_var('lookback_days') }} days'
        limit 1
    ), caller) then
        raise exception 'track_event: session % belongs to another user', session_id using errcode = '42501';
    end if;
    insert into {{ s }}.user_activity (
        id, user_id, workspace_id, event_type, event_name, page_path, session_id, ip_address, user_agent,
        referrer, metadata, created_at
    )
    values (
        new_id, caller, workspace_id, event_type, event_name, page_path, session_id,
        {{ s }}.client_address(headers ->> 'x-forwarded-for'),
        left(headers ->> 'user-agent', 1024), referrer, metadata, happened
    );
    return new_id;
end
$$;
revoke all on function {{ s }}.track_event(text, uuid, text, text, uuid, jsonb, text, timestamptz) from public;
grant execute on function {{ s }}.track_event(text, uuid, text, text, uuid, jsonb, text, timestamptz)
to authenticated, service_role;


{#- A rule's notification targets, for the owners and admins of its workspace (and
    service_role); other members are refused. #}
create or replace function {{ s }}.alert_rule_recipients(rule_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = {{ definer_search_path() }}
as $$
declare
    rule_workspace uuid;
    recipients jsonb;
begin
    select r.workspace_id, r.notification_recipients into rule_workspace, recipients
    from {{ s }}.alert_rules as r where r.id = rule_id;
    if not {{ manages_workspace('rule_workspace') | indent(4) }} then
        raise exception 'alert_rule_recipients: only the owners and admins of the rule''s workspace read its targets'
            using errcode = '42501';
    end if;
    return recipients;
end
$$;
revoke all on function {{ s }}.alert_rule_recipients(uuid) from public;
{% endmacro %}


{% macro requested_as_service_role() -%}
{#- True when the request's role is service_role: what PostgREST sets for the service key, or a
    backend's `set role`. Not the JWT's claimed role, which a caller could forge; unchanged by
    SECURITY DEFINER. -#}
(coalesce(pg_catalog.current_setting('role', true), '') = 'service_role')
{%- endmacro %}


{% macro manages_workspace(workspace) -%}
{#- True when the caller may manage the workspace's alerts: service_role, or one of its owners
    and admins (never for a NULL workspace, the platform's). -#}
(
    {{ requested_as_service_role() }}
    or exists (
        select from {{ var('app_schema') }}.workspace_members as m
        where m.workspace_id = {{ workspace }} and m.user_id = (select auth.uid()) and m.role in ('owner', 'admin')
    )
)
{%- endmacro %}
