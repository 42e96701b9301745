{% macro create_member_function() %}
{#- Materialized views cannot carry RLS: members read this one through
    analytics.member_<name without mv_>(), filtered by their memberships. Made with the view, by
    its owner (the build role), so a view replaced by a build gets its function back in the same
    build. PL/pgSQL, so that its plan is kept for the session (see member_workspace_ids()). -#}
{% set function_name = this.schema ~ '.member_' ~ this.identifier[3:] %}
create or replace function {{ function_name }}()
returns setof {{ this.include(database=false) }}
language plpgsql
stable
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    return query
    select * from {{ this }}
    where workspace_id = any (array(select {{ this.schema }}.member_workspace_ids()));
end
$$;
revoke all on function {{ function_name }}() from public;
grant execute on function {{ function_name }}() to authenticated, service_role
{% endmacro %}
