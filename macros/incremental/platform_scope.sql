{% macro platform_scope_id() -%}
{#- Intermediate models key platform-wide rows by this id so joins need no NULL handling;
    marts turn it back into the spec's NULL workspace_id. -#}
'00000000-0000-0000-0000-000000000000'::uuid
{%- endmacro %}


{% macro workspace_from_scope(scope_column) -%}
nullif({{ scope_column }}, {{ platform_scope_id() }})
{%- endmacro %}


{% macro row_id(columns) -%}
{#- A stable uuid from the row's natural key, NULLs included, so rebuilds keep the same id.
    Pass timestamps as epochs: their text depends on the session TimeZone. -#}
md5(concat_ws('|', {% for column in columns %}coalesce({{ column }}::text, '∅'){{ ', ' if not loop.last }}{% endfor %}))::uuid
{%- endmacro %}
