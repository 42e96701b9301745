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
grant execute on all functions in schema auth to {{ role_name }};
{% for schema in [schema_name, internal_schema()] %}
create schema if not exists {{ schema }} authorization {{ role_name }};
alter schema {{ schema }} owner to {{ role_name }};
{% endfor %}
{% endset %}
{% do run_query(statements) %}
{{ log("Build role " ~ role_name ~ " can read public and owns schema " ~ schema_name ~ ".", info=true) }}
{% endmacro %}
