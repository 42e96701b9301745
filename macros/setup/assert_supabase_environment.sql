{% macro assert_supabase_environment() %}
{#- Fails the run in one sentence when the database lacks what Supabase provides. -#}
do $check$
declare
    missing text[] := array[]::text[];
    role_name text;
    table_name text;
begin
    foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
        if to_regrole(role_name) is null then
            missing := missing || format('role %s', role_name);
        end if;
    end loop;
    if to_regprocedure('auth.uid()') is null then
        missing := missing || 'function auth.uid()'::text;
    end if;
    foreach table_name in array array['users', 'workspaces', 'workspace_members', 'agents', 'agent_runs'] loop
        if to_regclass(format('{{ var("app_schema") }}.%I', table_name)) is null then
            missing := missing || format('table {{ var("app_schema") }}.%s', table_name);
        end if;
    end loop;
    if cardinality(missing) > 0 then
        raise exception 'agent-analytics: this database is missing %: it is not a Supabase project with the app''s tables. Run `agent-analytics bootstrap` to create local stand-ins.', array_to_string(missing, ', ');
    end if;
end
$check$
{% endmacro %}
