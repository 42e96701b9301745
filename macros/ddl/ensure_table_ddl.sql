{#-
    Post-hooks that give a dbt-built table the spec's DDL. They run on every build, so each
    checks the catalog first and changes nothing that is already in place.
-#}

{% macro drop_swapped_out_backup(kind='table') %}
{#- A full refresh keeps the old table as __dbt_backup until after the post-hooks; its index
    and constraint names would shadow the ones the hooks create, so drop it first. #}
drop {{ kind }} if exists {{ this.schema }}.{{ adapter.quote(this.identifier ~ '__dbt_backup') }} cascade
{% endmacro %}


{% macro ensure_table_ddl(not_null=[], defaults={}, constraints={}) %}
do $ddl$
declare
    target_table regclass := '{{ this }}'::regclass;
begin
{%- for column in not_null %}
    if exists (
        select from pg_catalog.pg_attribute
        where attrelid = target_table and attname = '{{ column }}' and not attnotnull
    ) then
        alter table {{ this }} alter column {{ column }} set not null;
    end if;
{%- endfor %}
{%- for column, expression in defaults.items() %}
    if not exists (
        select from pg_catalog.pg_attrdef as d
        inner join pg_catalog.pg_attribute as a on a.attrelid = d.adrelid and a.attnum = d.adnum
        where d.adrelid = target_table and a.attname = '{{ column }}'
    ) then
        alter table {{ this }} alter column {{ column }} set default {{ expression }};
    end if;
{%- endfor %}
{%- for name, definition in constraints.items() %}
    if not exists (
        select from pg_catalog.pg_constraint where conrelid = target_table and conname = '{{ name }}'
    ) then
        alter table {{ this }} add constraint {{ name }} {{ definition }};
    end if;
{%- endfor %}
end
$ddl$
{% endmacro %}


{% macro ensure_index(name, definition) %}
create index if not exists {{ name }} on {{ this }} {{ definition }}
{% endmacro %}


{% macro drop_covered_index(name) %}
{#- A spec index that another index of the table serves in full (its columns lead it, or it
    is a BRIN beside a btree on the same column): dropped where an earlier version made it.
    docs/spec-deviations.md lists them. -#}
drop index if exists {{ this.schema }}.{{ name }}
{% endmacro %}


{% macro ensure_updated_at_trigger() %}
create or replace trigger {{ 'update_' ~ this.identifier ~ '_updated_at' }}
before update on {{ this }}
for each row execute function {{ this.schema }}.update_updated_at()
{% endmacro %}


{% macro name_index(name, columns) %}
{#- dbt names the indexes it creates from a hash; give the one on `columns` the spec's name. #}
do $rename$
declare
    current_name text;
begin
    select c.relname into current_name
    from pg_catalog.pg_index as i
    inner join pg_catalog.pg_class as c on c.oid = i.indexrelid
    where i.indrelid = '{{ this }}'::regclass
      and array(
          select a.attname::text
          from unnest(i.indkey) with ordinality as k (attnum, position)
          inner join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum
          order by k.position
      ) = array['{{ columns | join("', '") }}']
    limit 1;
    if current_name is null then
        raise exception 'name_index: no index on ({{ columns | join(", ") }}) of {{ this }}';
    end if;
    if current_name <> '{{ name }}' then
        execute format('alter index {{ this.schema }}.%I rename to %I', current_name, '{{ name }}');
    end if;
end
$rename$
{% endmacro %}


{% macro cascade_to_app(column, app_table) -%}
{#- A foreign key into the app that never blocks the app from deleting the parent (S11).
    Named through the relation API, not source(), so marts do not read the app directly. -#}
{%- set parent = api.Relation.create(database=target.database, schema=var('app_schema'), identifier=app_table) -%}
foreign key ({{ column }}) references {{ parent }} (id) on delete cascade
{%- endmacro %}
