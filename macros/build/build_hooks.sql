{#-
    What a dbt build checks and sets before it builds. It makes nothing: the deploy made the
    schema (macros/deploy/), and the build only builds models, as the build role.
-#}

{% macro use_build_role() -%}
{#- dbt sets the profile's role on each connection, but rolls it back before the on-run-* hooks
    (dbt-labs/dbt-adapters#1889): the hooks set it again, so they too run as the build role. -#}
{%- if target.role -%}
set role {{ target.role }}
{%- else -%}
select 'no build role: the hooks run as ' || current_user
{%- endif -%}
{%- endmacro %}


{% macro assert_ready_to_build() %}
{#- A pre-hook of every staging model, so that nothing downstream is built (and no watermark
    moves) when the deploy is missing or older than this project, or when the build could not
    read every row of the app; one sentence names the fix. -#}
{% set ledger = internal_schema() ~ '.deploy_steps' %}
do $ready$
declare
    deployed text;
    problems text[] := array[]::text[];
    view_oid regclass;
begin
    if to_regclass('{{ ledger }}') is null then
        raise exception 'agent-analytics: the analytics schema is not deployed in database %: run `agent-analytics deploy` as the database owner (on Supabase: postgres) first', current_database();
    end if;
    select checksum into deployed from {{ ledger }} where step = '(fingerprint)';
    if deployed is distinct from '{{ deploy_fingerprint() }}' then
        raise exception 'agent-analytics: the deployed analytics schema (%) is not this version''s ({{ deploy_fingerprint() }}): run `agent-analytics deploy` as the database owner, then build again', coalesce(deployed, 'unfinished');
    end if;
    {%- for table in app_columns() %}
    view_oid := to_regclass('{{ app_schema_for_build() }}.{{ table }}');
    if view_oid is null or not has_table_privilege(view_oid, 'select') then
        problems := problems || format('%s cannot read {{ app_schema_for_build() }}.{{ table }}', current_user);
    elsif to_regclass('{{ var("app_schema") }}.{{ table }}') is null
        or not {{ reads_past_rls("(select relowner from pg_catalog.pg_class where oid = view_oid)", "to_regclass('" ~ var('app_schema') ~ "." ~ table ~ "')") }} then
        problems := problems || 'row-level security hides rows of {{ var("app_schema") }}.{{ table }} from the owner of {{ app_schema_for_build() }}.{{ table }}'::text;
    end if;
    {%- endfor %}
    {%- for table in build_read_tables() %}
    if not has_table_privilege('{{ target.schema }}.{{ table }}', 'select') or not exists (
        select from pg_catalog.pg_policies
        where schemaname = '{{ target.schema }}' and tablename = '{{ table }}' and policyname = '{{ build_read_policy() }}'
    ) then
        problems := problems || format('row-level security hides rows of {{ target.schema }}.{{ table }} from %s', current_user);
    end if;
    {%- endfor %}
    if cardinality(problems) > 0 then
        raise exception 'agent-analytics: the build cannot read the app: %: run `agent-analytics deploy --force` as the owner of the app''s tables (on Supabase: postgres)', array_to_string(problems, '; ');
    end if;
end
$ready$
{% endmacro %}
