{% macro rollup_timestamps(updated=true) -%}
{#- Bookkeeping columns: set when a row is inserted; updated_at moves (by trigger) when it changes. -#}
now() as created_at{% if updated %},
        now() as updated_at{% endif %}
{%- endmacro %}
