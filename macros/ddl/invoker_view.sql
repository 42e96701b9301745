{% macro make_security_invoker() -%}
{#- A view of the reporting relations reads its tables with its caller's rights, so the tables'
    RLS applies to a member exactly as on the tables (the default, the owner's rights, would
    show every workspace). Set in the view's own transaction: create or replace view resets it. -#}
alter view {{ this }} set (security_invoker = true)
{%- endmacro %}
