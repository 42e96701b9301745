{% macro enable_workspace_rls(relation=none, reporting=true) %}
{#- Members read their workspaces' rows, nothing else; no one writes through the API. The
    reporting role (deploy step reporting_role) reads every row of a rollup (`reporting`), the
    platform's included; the app-written tables (raw events, alert rules) are not its. -#}
{% set relation = relation or this %}
{%- set policy = 'workspace_members_read_' ~ relation.identifier %}
{%- set reporting_policy = 'reporting_read_' ~ relation.identifier %}
do $rls$
begin
    if not (select relrowsecurity from pg_catalog.pg_class where oid = '{{ relation }}'::regclass) then
        alter table {{ relation }} enable row level security;
    end if;
    if not exists (
        select from pg_catalog.pg_policies
        where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
          and policyname = '{{ policy }}'
    ) then
        create policy {{ policy }} on {{ relation }}
            for select to authenticated
            using (workspace_id = any (array(select {{ relation.schema }}.member_workspace_ids())));
    end if;
    {%- if reporting %}
    if not exists (
        select from pg_catalog.pg_policies
        where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
          and policyname = '{{ reporting_policy }}'
    ) then
        create policy {{ reporting_policy }} on {{ relation }}
            for select to {{ reporting_role() }}
            using (true);
    end if;
    {%- endif %}
end
$rls$
{%- endmacro %}
