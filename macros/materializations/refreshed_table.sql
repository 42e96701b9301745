{#-
    A table that stands in for a materialized view: its rows are the model's query, rewritten
    whole by refresh_<name>() in the internal schema, which every build calls and which
    refresh_all_materialized_views() calls between builds. Unlike a materialized view it can
    carry RLS, so members read it directly (docs/spec-deviations.md, "The materialized views are
    tables"). Usage: materialized='refreshed_table', with `indexes` and the RLS post-hook.

    The table keeps its oid, grants and policies from build to build. A refresh writes only the
    rows that changed, as REFRESH ... CONCURRENTLY does: it computes the query into a temporary
    table, deletes the stored rows the query no longer gives and inserts the ones it gives anew
    (whole rows compared: equal by the types' equality and byte for byte, NULLs alike), in one
    transaction, so readers see the old rows until it commits and are never locked out
    (EXCLUSIVE lock: refreshes queue, reads do not). Its columns must have an equality and a
    hash (jsonb, not json); the build role needs TEMP on the database (PUBLIC has it by
    default). Rewriting every row instead took as long at medium, wrote a hundred times the WAL
    and left a dead row for each row (docs/performance.md). The table is
    dropped and made again only when its columns or configured indexes are not the model's
    (a new version of the project), on --full-refresh, or when the relation is still a
    materialized view of an earlier version; the member function that returns its row type
    goes with it and the post-hook makes it again.
-#}
{% materialization refreshed_table, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is not none and (
        not existing_relation.is_table or should_full_refresh()
        or refreshed_table_changed(existing_relation, sql)
    ) %}
        {{ adapter.drop_relation(existing_relation) }}
        {%- set existing_relation = none -%}
    {%- endif %}

    {%- if existing_relation is none %}
        {% call statement('create_table') -%}
            create table {{ target_relation }} as {{ sql }} with no data
        {%- endcall %}
        {% do create_indexes(target_relation) %}
    {%- endif %}

    {% call statement('refresh_function') -%}
        {{ refresh_function_ddl(target_relation, sql) }}
    {%- endcall %}
    {#- dbt reports the rows of the main statement: one per row the refresh wrote, so that a
        build that changed nothing says SELECT 0, as the incremental rollups say MERGE 0 #}
    {% call statement('main') -%}
        select from pg_catalog.generate_series(1, {{ refresh_function_name(target_relation) }}())
    {%- endcall %}

    {{ return(finish_materialization(target_relation)) }}
{% endmaterialization %}


{% macro refresh_function_name(relation) -%}
{{ internal_schema() }}.{{ adapter.quote('refresh_' ~ relation.identifier) }}
{%- endmacro %}


{% macro refresh_function_ddl(relation, query) %}
{#- Owned by the build role and run as it, as REFRESH MATERIALIZED VIEW runs its query as the
    view's owner; in the internal schema, which the API roles cannot use, and executable only
    by its owner (and so by the deploying owner's refresh_all_materialized_views()). -#}
{%- set function_name = refresh_function_name(relation) -%}
{%- set table = relation.include(database=false) -%}
{%- set fresh = 'pg_temp.' ~ adapter.quote(relation.identifier ~ '__fresh') -%}
{#- A merge join would sort whole rows (three times slower at medium): the hash join compares
    by `=` and then byte for byte. -#}
{#- An earlier version's function returned nothing, and create or replace cannot change a result type #}
do $upgrade$
begin
    if (
        select p.prorettype from pg_catalog.pg_proc as p where p.oid = pg_catalog.to_regprocedure('{{ function_name }}()')
    ) = 'void'::regtype then
        drop function {{ function_name }}();
    end if;
end
$upgrade$;
create or replace function {{ function_name }}()
returns bigint
language plpgsql
security definer
{{ maintenance_function_settings() }}
set enable_mergejoin = off
as $refresh$
declare
    v_deleted bigint;
    v_inserted bigint;
begin
    lock table {{ table }} in exclusive mode;
    {#- No `drop ... if exists` first: a table of that name in the caller's session (planted, or
        another call's) makes this fail and roll back instead of being read or dropped. An
        error inside rolls the temporary table back with everything else. #}
    create temporary table {{ fresh }} as
    {{ without_database_names(query) }};
    delete from {{ table }} as stored
    where not exists (select from {{ fresh }} as fresh where fresh = stored and fresh *= stored);
    get diagnostics v_deleted = row_count;
    insert into {{ table }}
    select * from {{ fresh }} as fresh
    where not exists (select from {{ table }} as stored where stored = fresh and stored *= fresh);
    get diagnostics v_inserted = row_count;
    drop table {{ fresh }};
    {#- the rows written: a changed row counts twice (deleted, then inserted), as in the WAL #}
    return v_deleted + v_inserted;
end
$refresh$;
revoke all on function {{ function_name }}() from public
{%- endmacro %}


{% macro refreshed_table_changed(relation, query) %}
{#- Whether the table's columns (names and types, in order) or its indexes are not what the model
    now makes: the columns of the query in a temporary view against the table's, and each
    configured index (its columns and uniqueness) against the table's indexes. -#}
{%- set probe = 'pg_temp.' ~ adapter.quote(relation.identifier ~ '__query') -%}
{%- set wanted = [] -%}
{%- for index in config.get('indexes', default=[]) -%}
    {%- do wanted.append(("'u:'" if index.get('unique') else "':'") ~ " || '" ~ (index['columns'] | join(',')) ~ "'") -%}
{%- endfor -%}
{%- do run_query('create or replace temp view ' ~ probe ~ ' as ' ~ query) -%}
{%- set compared = run_query(
    "with columns_of as (
        select c.oid, array(
            select a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            from pg_catalog.pg_attribute as a
            where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            order by a.attnum
        ) as columns
        from pg_catalog.pg_class as c
        where c.oid in ('" ~ probe ~ "'::regclass, '" ~ relation ~ "'::regclass)
    ),
    indexes_of_table as (
        select case when i.indisunique then 'u:' else ':' end || array_to_string(array(
            select a.attname
            from unnest(i.indkey) with ordinality as k (attnum, position)
            inner join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum
            order by k.position
        ), ',') as index_key
        from pg_catalog.pg_index as i
        where i.indrelid = '" ~ relation ~ "'::regclass
    )
    select
        (select columns from columns_of where oid = '" ~ probe ~ "'::regclass)
            is distinct from (select columns from columns_of where oid = '" ~ relation ~ "'::regclass)
        or exists (
            select from unnest(array[" ~ (wanted | join(', ') if wanted else '') ~ "]::text[]) as wanted (index_key)
            where wanted.index_key not in (select index_key from indexes_of_table)
        )"
) -%}
{%- do run_query('drop view ' ~ probe) -%}
{{- return(compared.columns[0].values()[0]) -}}
{% endmacro %}
