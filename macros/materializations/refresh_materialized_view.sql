{% macro postgres__refresh_materialized_view(relation) %}
{#- dbt refreshes without CONCURRENTLY, which locks readers out; every MV here has a unique index. -#}
refresh materialized view concurrently {{ relation }}
{% endmacro %}
