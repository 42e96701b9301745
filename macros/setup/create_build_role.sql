{% macro create_build_role(role_name='analytics_builder') %}
{#-
    Run once as the database owner: dbt run-operation create_build_role --target owner
    The role owns the analytics schema and reads public; it cannot write there.
-#}
{% set schema_name = target.schema %}
{% set statements %}
do $role$
begin
    if to_regrole('{{ role_name }}') is null then
        begin
            create role {{ role_name }} nologin noinherit;
        exception when duplicate_object then
            null;  -- created concurrently by another session
        end;
    end if;
end
$role$;
grant {{ role_name }} to current_user;
grant usage on schema {{ var('app_schema') }} to {{ role_name }};
grant select on all tables in schema {{ var('app_schema') }} to {{ role_name }};
grant references on {{ var('app_schema') }}.users, {{ var('app_schema') }}.workspaces, {{ var('app_schema') }}.agents to {{ role_name }};
grant usage on schema auth to {{ role_name }};
{#- To see when other sessions' transactions began, so that an incremental build knows from
    when rows may not have been visible to it (macro read_start_sql); without it, builds fall
    back to the commit_margin. #}
do $stats$
begin
    {#- the role is NOINHERIT: this one membership must pass its privileges on #}
    if current_setting('server_version_num')::integer >= 160000 then
        execute 'grant pg_read_all_stats to {{ role_name }} with inherit true';
    else
        execute 'alter role {{ role_name }} inherit';
        execute 'grant pg_read_all_stats to {{ role_name }}';
    end if;
exception when insufficient_privilege then
    raise notice 'could not grant pg_read_all_stats to {{ role_name }}: builds re-read the commit_margin instead';
end
$stats$;
grant execute on all functions in schema auth to {{ role_name }};
{% for schema in [schema_name, internal_schema()] %}
create schema if not exists {{ schema }} authorization {{ role_name }};
alter schema {{ schema }} owner to {{ role_name }};
{% endfor %}
{% endset %}
{% do run_query(statements) %}
{{ log("Build role " ~ role_name ~ " can read public and owns schema " ~ schema_name ~ ".", info=true) }}
{% endmacro %}
