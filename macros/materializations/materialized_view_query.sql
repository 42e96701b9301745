{% macro materialized_view_get_build_sql(existing_relation, target_relation, backup_relation, intermediate_relation) %}
{#- dbt's own choice, except that a materialized view whose stored query is not the model's is
    replaced: dbt applies a changed query only under --full-refresh (dbt-labs/dbt-core#8862),
    so a new version of this project would keep serving the old views. -#}
{%- if existing_relation is not none and existing_relation.is_materialized_view and not should_full_refresh()
    and materialized_view_query_changed(existing_relation, sql) -%}
    {{- return(get_replace_sql(existing_relation, target_relation, sql)) -}}
{%- endif -%}
{{- return(dbt.materialized_view_get_build_sql(existing_relation, target_relation, backup_relation, intermediate_relation)) -}}
{% endmacro %}


{% macro materialized_view_query_changed(relation, query) %}
{#- PostgreSQL's own text of the stored query against that of the model's query in a temporary
    view: both are deparsed the same way, so they are equal exactly when the query is. -#}
{%- set probe = 'pg_temp.' ~ adapter.quote(relation.identifier ~ '__query') -%}
{%- do run_query('create or replace temp view ' ~ probe ~ ' as ' ~ query) -%}
{%- set compared = run_query(
    "select pg_get_viewdef('" ~ probe ~ "'::regclass) is distinct from pg_get_viewdef(format('%I.%I', '"
    ~ relation.schema ~ "', '" ~ relation.identifier ~ "')::regclass)"
) -%}
{%- do run_query('drop view ' ~ probe) -%}
{{- return(compared.columns[0].values()[0]) -}}
{% endmacro %}
