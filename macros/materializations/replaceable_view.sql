{#-
    A view replaced in place (create or replace view). dbt's own view materialization swaps
    in a new view and drops the old one with CASCADE, which would drop the materialized
    views built on it at every run.
-#}
{% materialization replaceable_view, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% if existing_relation is not none and not existing_relation.is_view %}
        {{ adapter.drop_relation(existing_relation) }}
    {% endif %}

    {% call statement('main') -%}
        create or replace view {{ target_relation }} as (
            {{ sql }}
        )
    {%- endcall %}

    {{ return(finish_materialization(target_relation)) }}
{% endmaterialization %}
