{% macro is_unit_test(relation) %}
{#- True for a relation of a dbt unit test, whose inputs are CTEs of the query: nothing can be
    read ahead of it there. -#}
{{ return((relation | string).startswith('__dbt__cte__')) }}
{% endmacro %}
