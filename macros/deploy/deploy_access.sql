{#-
    How the build reaches the app without a superuser (docs/deploy.md, "Reading the app"):
    the app's tables keep row-level security, with no policy for any role of ours. The deploy
    makes one view per app table in schema analytics_app, owned by the deploying owner, which
    reads past RLS (on Supabase, postgres has BYPASSRLS); a view runs with its owner's rights,
    so the build role, granted SELECT on these views only, reads every row and can write
    nothing in public. The views name only the columns analytics reads.
-#}

{% macro app_columns() %}
{#- The app's columns that analytics reads (the main app's contract, docs/specification.md), by table. -#}
{{ return({
    'users': ['id', 'email', 'full_name', 'created_at', 'last_sign_in_at'],
    'workspaces': ['id', 'name', 'plan', 'created_at'],
    'workspace_members': ['workspace_id', 'user_id', 'role', 'joined_at'],
    'agents': ['id', 'workspace_id', 'name', 'created_by', 'created_at'],
    'agent_runs': ['id', 'agent_id', 'workspace_id', 'user_id', 'status', 'started_at', 'completed_at',
                   'runtime_seconds', 'credits_consumed', 'model', 'tokens_used', 'error_type', 'error_message',
                   'user_rating', 'feedback', 'updated_at'],
}) }}
{% endmacro %}


{% macro reads_past_rls(reader, table_oid) -%}
{#- SQL: true when `reader` (a role's oid or name expression) sees every row of the table: RLS off,
    a superuser or BYPASSRLS, or the table's owner without FORCE ROW LEVEL SECURITY. -#}
(
    select not c.relrowsecurity
        or r.rolsuper or r.rolbypassrls
        or (pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE') and not c.relforcerowsecurity)
    from pg_catalog.pg_class as c, pg_catalog.pg_roles as r
    where c.oid = {{ table_oid }} and r.oid = {{ reader }}
)
{%- endmacro %}


{% macro deploy_check_app() %}
{#- Before anything is made: the app's tables and columns exist, and the deploying owner reads
    all of their rows. Each failure names the table and what fixes it. -#}
{% set app = var('app_schema') %}
do $check_app$
declare
    problems text[] := array[]::text[];
    role_name text;
    found regclass;
begin
    {%- for table, columns in app_columns().items() %}
    found := to_regclass('{{ app }}.{{ table }}');
    if found is null then
        problems := problems || 'the app has no table {{ app }}.{{ table }} (var app_schema names the app''s schema)'::text;
    else
        if not has_table_privilege(found, 'select') then
            problems := problems || format('%s cannot read {{ app }}.{{ table }}: run the deploy as the owner of the app''s tables (on Supabase: postgres)', current_user);
        elsif not {{ reads_past_rls("(select oid from pg_catalog.pg_roles where rolname = current_user)", 'found') }} then
            problems := problems || format('{{ app }}.{{ table }} has row-level security and %s neither owns it nor has BYPASSRLS, so the build would read no rows: run the deploy as the table''s owner or a role with BYPASSRLS (on Supabase: postgres)', current_user);
        end if;
        problems := problems || array(
            select format('{{ app }}.{{ table }} has no column %s, which analytics reads (docs/specification.md, the contract of the main app): add it to the app or map it in macro app_columns()', wanted)
            from unnest(array[{% for column in columns %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}]) as wanted
            where not exists (
                select from pg_catalog.pg_attribute
                where attrelid = found and attname = wanted and attnum > 0 and not attisdropped
            )
        );
    end if;
    {%- endfor %}
    foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
        if to_regrole(role_name) is null then
            problems := problems || format('role %s is missing: this is not a Supabase database (agent-analytics bootstrap makes the roles on a local server)', role_name);
        end if;
    end loop;
    if to_regprocedure('auth.uid()') is null then
        problems := problems || 'function auth.uid() is missing: this is not a Supabase database'::text;
    end if;
    if cardinality(problems) > 0 then
        raise exception 'agent-analytics deploy: %', array_to_string(problems, '; ')
            using hint = 'docs/deploy.md lists what the deploy needs';
    end if;
end
$check_app$
{% endmacro %}


{% macro claim_for_owner(kind, objects) %}
{#- Each object that `objects` lists (its name as SQL, its owner's oid) and that the deploying
    owner does not own becomes the owner's: an earlier version made the build role own
    schemas, app-written tables and functions; a view owned by a role that RLS binds would
    show the build no rows. -#}
do $claim$
declare
    item record;
begin
    for item in {{ objects }} loop
        if item.owner <> (select oid from pg_catalog.pg_roles where rolname = current_user) then
            execute format('alter {{ kind }} %s owner to %I', item.name, current_user);
        end if;
    end loop;
end
$claim$
{%- endmacro %}


{% macro deploy_build_role() %}
{% set role = build_role() %}
{% set app = var('app_schema') %}
do $role$
begin
    if to_regrole('{{ role }}') is null then
        create role {{ role }} nologin inherit;
    end if;
end
$role$;
{#- dbt connects as the owner and sets this role; the owner acts for it in maintenance functions. #}
grant {{ role }} to current_user;
{#- every build checks that the deploy is this version's #}
grant select on {{ internal_schema() }}.deploy_steps to {{ role }};
{#- An earlier version granted it; the owner's function reads the sessions now. #}
do $stats$
begin
    if pg_catalog.pg_has_role('{{ role }}', 'pg_read_all_stats', 'member') then
        revoke pg_read_all_stats from {{ role }};
    end if;
exception when insufficient_privilege then
    null;
end
$stats$;
{#- Nothing in the app but what a foreign key from a rollup needs; an earlier version read it directly. #}
revoke all on all tables in schema {{ app }} from {{ role }};
grant references on {{ app }}.users, {{ app }}.workspaces, {{ app }}.agents to {{ role }}
{% endmacro %}


{% macro deploy_build_role_temp() %}
{% set role = build_role() %}
{#- A refresh of the tables that stand in for the spec's materialized views computes into a
    temporary table (materialization refreshed_table). PUBLIC has TEMP by default, but a
    hardened database may have revoked it, and the refresh would then fail at the first build
    on 'permission denied to create temporary tables': grant it outright, and stop here, naming
    the fix, where the owner cannot (a GRANT without the right warns and grants nothing). At
    every deploy: a database restored from a dump without its own grants has lost it. -#}
do $temp$
begin
    if not pg_catalog.has_database_privilege('{{ role }}', pg_catalog.current_database(), 'temporary') then
        begin
            execute format('grant temporary on database %I to {{ role }}', pg_catalog.current_database());
        exception when insufficient_privilege then
            null;
        end;
    end if;
    if not pg_catalog.has_database_privilege('{{ role }}', pg_catalog.current_database(), 'temporary') then
        raise exception 'agent-analytics deploy: role {{ role }} may not create temporary tables in database %, which refreshing the materialized-view tables needs, and % cannot grant it', pg_catalog.current_database(), current_user
            using hint = format('as the database''s owner: grant temporary on database %I to {{ role }}', pg_catalog.current_database());
    end if;
end
$temp$
{% endmacro %}


{% macro deploy_reporting_role() %}
{#- A NOLOGIN role that reads the platform-wide figures: the marts (each model grants it) and
    every row of the rollups (a policy of its own beside the members', macro
    enable_workspace_rls), never the raw events, the alert rules or the internal schemas. A BI
    tool's login is granted it (docs/security.md). NOINHERIT is not wanted: its login inherits. -#}
{% set role = reporting_role() %}
do $role$
begin
    if to_regrole('{{ role }}') is null then
        create role {{ role }} nologin;
    end if;
end
$role$;
grant usage on schema {{ target.schema }} to {{ role }}
{% endmacro %}


{% macro deploy_schemas() %}
{% set role = build_role() %}
{% for schema in [target.schema, internal_schema(), app_schema_for_build()] %}
create schema if not exists {{ schema }};
{% endfor %}
{#- An earlier version made the build role own the schemas and the app-written tables: the
    owner takes them back, so the build role cannot alter what it does not build. -#}
{{ claim_for_owner('schema', "select quote_ident(n.nspname) as name, n.nspowner as owner from pg_catalog.pg_namespace as n
    where n.nspname in ('" ~ target.schema ~ "', '" ~ internal_schema() ~ "', '" ~ app_schema_for_build() ~ "')") }};
{{ claim_for_owner('table', "select c.oid::regclass::text as name, c.relowner as owner from pg_catalog.pg_class as c
    where c.relnamespace = '" ~ target.schema ~ "'::regnamespace and c.relkind in ('r', 'p')
      and (c.relname in ('user_activity', 'alert_rules', 'alert_history', 'audit_log')
           or c.relname ~ '^user_activity_(p[0-9]{8}|default)$')") }};
grant usage, create on schema {{ target.schema }}, {{ internal_schema() }} to {{ role }};
revoke all on schema {{ app_schema_for_build() }} from public;
grant usage on schema {{ app_schema_for_build() }} to {{ role }}
{% endmacro %}


{% macro deploy_app_views() %}
{% set app = var('app_schema') %}
{% set views = app_schema_for_build() %}
{% for table, columns in app_columns().items() %}
create or replace view {{ views }}.{{ table }} as
select
    {%- for column in columns %}
    {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ app }}.{{ table }};
{#- adjacent string constants on separate lines are one constant (SQL standard) #}
comment on view {{ views }}.{{ table }} is
'agent-analytics: {{ app }}.{{ table }} as the build reads it '
'(owned by the deploying owner, who reads past RLS; docs/deploy.md)';
{% endfor %}
{% endmacro %}


{% macro deploy_app_access() %}
{#- At every deploy: the views are the deploying owner's (a view owned by a role that RLS
    binds would show the build no rows) and only the build role reads them. -#}
{% set views = app_schema_for_build() %}
{{ claim_for_owner('view', "select c.oid::regclass::text as name, c.relowner as owner from pg_catalog.pg_class as c
    where c.relnamespace = '" ~ views ~ "'::regnamespace and c.relkind = 'v'") }};
revoke all on all tables in schema {{ views }} from public, anon, authenticated, service_role;
grant select on all tables in schema {{ views }} to {{ build_role() }}
{% endmacro %}
