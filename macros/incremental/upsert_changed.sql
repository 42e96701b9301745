{#-
    Incremental strategy `upsert_changed`: the model selects every row of the buckets it
    rebuilds (days, hours, periods). Rows that differ are updated (their updated_at moves),
    new rows are inserted, rows of a rebuilt bucket that no longer exist are deleted, and
    rows that did not change are not touched, so a second build writes nothing.
    Config: unique_key (one NOT NULL column), bucket_column.
-#}
{% macro get_incremental_upsert_changed_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set bucket = config.require('bucket_column') -%}
    {%- set bookkeeping = ['created_at', 'updated_at', key] -%}
    {%- set all_columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set compared = all_columns | reject('in', bookkeeping) | list -%}
    {%- set inserted = all_columns | reject('in', ['created_at', 'updated_at']) | list -%}

    delete from {{ target }} as t
    where t.{{ bucket }} in (select distinct s.{{ bucket }} from {{ source }} as s)
      and not exists (select from {{ source }} as s where s.{{ key }} = t.{{ key }});

    update {{ target }} as t
    set ({{ compared | join(', ') }}) = (
        {%- for column in compared %}s.{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
    )
    from {{ source }} as s
    where s.{{ key }} = t.{{ key }}
      and ({% for column in compared %}t.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
          is distinct from
          ({% for column in compared %}s.{{ column }}{{ ', ' if not loop.last }}{% endfor %});

    insert into {{ target }} ({{ inserted | join(', ') }})
    select {{ inserted | join(', ') }}
    from {{ source }} as s
    where not exists (select from {{ target }} as t where t.{{ key }} = s.{{ key }})
{% endmacro %}
