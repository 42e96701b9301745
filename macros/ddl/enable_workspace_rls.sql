{% macro enable_workspace_rls(relation=none) %}
{#- Members read their workspaces' rows, nothing else; no one writes through the API. -#}
{% set relation = relation or this %}
{% set policy = 'workspace_members_read_' ~ relation.identifier %}
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
end
$rls$
{%- endmacro %}
