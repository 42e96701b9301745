{#-
    Erasure, the build's part (the deploy's is macros/deploy/create_erasure.sql; the page is
    docs/security.md, "Erasure and retention of personal data").
-#}

{% macro register_runs() -%}
{#- on-run-start: the keys of the runs written since the last build, so that a run deleted in
    the app is noticed (analytics_internal.run_keys). -#}
select {{ internal_schema() }}.register_runs()
{%- endmacro %}


{% macro erase_deleted_keys() %}
{#-
    on-run-start, before any model reads: every row keyed by a user or workspace that the app
    deleted (or a person erased on request) goes from the models that declare their key columns
    in `meta.erase_by` ({column: user | workspace}), and their ids from the audit log. The
    grains keep days past the raw events' purge, which no deleted event would recompute. Who is
    gone is read off int_user_first_seen, one row per user and workspace: the check costs what
    the number of users does, not the history.
-#}
{%- set first_seen = internal_schema() ~ '.int_user_first_seen' -%}
{%- set targets = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.meta.get('erase_by') and node.config.materialized == 'incremental' -%}
        {%- do targets.append(node) -%}
    {%- endfor -%}
{%- endif -%}
do $erase$
declare
    gone_users uuid[];
    gone_workspaces uuid[];
begin
    if to_regclass('{{ first_seen }}') is null then
        return;
    end if;
    select coalesce(array_agg(distinct known.user_id), '{}') into gone_users
    from {{ first_seen }} as known
    where
        not exists (select from {{ source('app', 'users') }} as people where people.id = known.user_id)
        or not {{ not_erased('known.user_id') }};
    select coalesce(array_agg(distinct known.scope_id), '{}') into gone_workspaces
    from {{ first_seen }} as known
    where
        known.scope_id <> {{ platform_scope_id() }}
        and not exists (select from {{ source('app', 'workspaces') }} as spaces where spaces.id = known.scope_id);
    if cardinality(gone_users) + cardinality(gone_workspaces) = 0 then
        return;
    end if;
    {%- for node in targets %}
    if to_regclass('{{ node.schema }}.{{ node.alias }}') is not null then
        {%- for column, kind in node.config.meta.erase_by.items() %}
        delete from {{ node.schema }}.{{ node.alias }} where {{ column }} = any(gone_{{ kind }}s);
        {%- endfor %}
    end if;
    {%- endfor %}
    perform {{ internal_schema() }}.scrub_audit_log(gone_users || gone_workspaces);
    raise notice 'agent-analytics: erased the rows of % deleted users and % deleted workspaces',
        cardinality(gone_users), cardinality(gone_workspaces);
end
$erase$
{% endmacro %}


{% macro forget_taken_in_deletions() %}
{#- on-run-end: deleted activity that every model has taken in is forgotten (a model that did
    not build keeps its watermark, and with it the rows it has yet to take in). -#}
delete from {{ internal_schema() }}.deleted_activity
where recorded_at < (select min(marks.read_start) from {{ internal_schema() }}.build_watermarks as marks)
{% endmacro %}
