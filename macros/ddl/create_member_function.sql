{% macro create_member_function() %}
{#- analytics.member_<name without mv_>(): the rows of the member's workspaces, kept for the
    callers of earlier versions, in which the materialized views could not carry RLS. The table
    now has RLS and members read it directly; the function runs as its caller, so RLS applies
    to it too, and it keeps its filter so that a role past RLS (service_role) gets what it got
    before: the rows of its own memberships. Made with the table, by its owner, so a table made
    again gets its function back in the same build. -#}
{% set function_name = this.schema ~ '.member_' ~ this.identifier[3:] %}
create or replace function {{ function_name }}()
returns setof {{ this.include(database=false) }}
language sql
stable
security invoker
set search_path = {{ definer_search_path() }}
as $$
    select * from {{ this.include(database=false) }}
    where workspace_id = any (array(select {{ this.schema }}.member_workspace_ids()))
$$;
revoke all on function {{ function_name }}() from public;
grant execute on function {{ function_name }}() to authenticated, service_role
{% endmacro %}
