{#-
    Incremental strategy `upsert_changed`: the model selects the rows it recomputes. Rows that
    differ are updated (their updated_at moves), new rows are inserted, and rows that did not
    change are not touched, so a second build writes nothing (dbt reports "MERGE 0").
    Config: unique_key (one NOT NULL column), and optionally bucket_column (a column or a list
    of columns): the model then selects every row of each bucket it recomputes (a day, an
    hour, a period), and rows of those buckets that it no longer selects are deleted.
-#}
{% macro get_incremental_upsert_changed_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set bucket = config.get('bucket_column') -%}
    {%- set buckets = [bucket] if bucket is string else (bucket or []) -%}
    {%- set bookkeeping = ['created_at', 'updated_at', key] -%}
    {%- set all_columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set compared = all_columns | reject('in', bookkeeping) | list -%}
    {%- set inserted = all_columns | reject('in', ['created_at', 'updated_at']) | list -%}

{#- The buckets' rows are found through the target's index on the bucket columns: with the
    buckets as an IN list the planner scanned the whole target (hourly_metrics at large:
    0.9 s for 73 hours). #}
{%- if buckets | length == 1 %}
delete from {{ target }} as t
where
    t.{{ buckets[0] }} = any(array(select distinct s.{{ buckets[0] }} from {{ source }} as s))
    and not exists (
        select from {{ source }} as s
        where s.{{ key }} = t.{{ key }}
    );
{%- elif buckets %}
delete from {{ target }} as t
using (
    select distinct
        {%- for column in buckets %}
        s.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ source }} as s
) as b
where
    {% for column in buckets %}t.{{ column }} = b.{{ column }}{{ ' and ' if not loop.last }}{% endfor %}
    and not exists (
        select from {{ source }} as s
        where s.{{ key }} = t.{{ key }}
    );
{%- endif %}

{#- One MERGE updates the rows that differ and inserts the new ones, so that dbt reports the
    rows the build wrote ("MERGE 12"), not the last of several statements ("INSERT 0 0").
    The target's rows are looked up by key: a join alone hashed the whole target. #}
merge into {{ target }} as t
using {{ source }} as s
    on
        t.{{ key }} = s.{{ key }}
        and t.{{ key }} = any(array(select s.{{ key }} from {{ source }} as s))
when matched and (
    {% for column in compared %}t.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
) is distinct from (
    {% for column in compared %}s.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
) then
    update set ({{ compared | join(', ') }}) = (
        {%- for column in compared %}s.{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
    )
when not matched then
    insert ({{ inserted | join(', ') }})
    values ({% for column in inserted %}s.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
{% endmacro %}
