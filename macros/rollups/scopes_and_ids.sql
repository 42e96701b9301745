{#- The platform scope (the platform-wide rows beside each workspace's), stable row ids and
    the rollups' bookkeeping columns. -#}


{% macro platform_scope_id() -%}
{#- Intermediate models key platform-wide rows by this id so joins need no NULL handling;
    marts turn it back into the spec's NULL workspace_id. -#}
'00000000-0000-0000-0000-000000000000'::uuid
{%- endmacro %}


{% macro workspace_from_scope(scope_column) -%}
nullif({{ scope_column }}, {{ platform_scope_id() }})
{%- endmacro %}


{% macro scope_of_grouping(workspace_column) -%}
{#- In a GROUP BY GROUPING SETS ((..., workspace), (...)): the workspace's scope, or the
    platform's in the set without it. -#}
case
    when grouping({{ workspace_column }}) = 1 then {{ platform_scope_id() }}
    else {{ workspace_column }}
end
{%- endmacro %}


{% macro is_scope_grouping(workspace_column) -%}
{#- HAVING for those grouping sets: facts with no workspace count for the platform only. -#}
grouping({{ workspace_column }}) = 1 or {{ workspace_column }} is not null
{%- endmacro %}


{% macro row_id(columns) -%}
{#- A stable uuid from the row's natural key, NULLs included, so rebuilds keep the same id.
    NULL is written '∅'. Only the last column may be free text ('|' parts the others, whose
    text never starts with '∅'): a value of it starting with '∅' gets one more in front, since
    a stored event name '∅' beside a NULL one made two rows of one id, and the build failed on
    it. Pass timestamps as epochs: their text depends on the session TimeZone. -#}
md5(concat_ws(
    '|',
    {%- for column in columns %}
    {%- if loop.last %}
    coalesce(regexp_replace({{ column }}::text, '^∅', '∅∅'), '∅')
    {%- else %}
    coalesce({{ column }}::text, '∅'),
    {%- endif %}
    {%- endfor %}
))::uuid
{%- endmacro %}


{% macro rollup_timestamps(updated=true) -%}
{#- Bookkeeping columns: set when a row is inserted; updated_at moves (by trigger) when it changes. -#}
now() as created_at{% if updated %},
now() as updated_at{% endif %}
{%- endmacro %}


{% macro not_in_reserved_workspace(workspace_column) -%}
{#- Leaves out the rows of a workspace whose id is the platform's inside the rollups (the nil
    UUID, platform_scope_id): its rows and the platform's would share their keys, and a build
    failed on the duplicate. gen_random_uuid() never makes it; an app that inserts it by hand is
    warned at every build (the source test workspace_id_is_not_the_platforms_reserved_id), and
    its rows stay in the app. Events outside any workspace (NULL) are kept. -#}
{{ workspace_column }} is distinct from {{ platform_scope_id() }}
{%- endmacro %}
