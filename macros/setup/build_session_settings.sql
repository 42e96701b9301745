{% macro build_session_settings() -%}
{#- Run before every model (a pre-hook in dbt_project.yml). The build's queries are many and
    short: JIT compilation cost seconds per model and saved nothing here, so it is off unless
    var build_jit says otherwise; var build_work_mem lets their sorts and hashes stay in memory.
    Session-level, so the data tests run on the same connection get them too. -#}
set jit = {{ 'on' if var('build_jit', false) else 'off' }};
set work_mem = '{{ var("build_work_mem", "64MB") }}'
{%- endmacro %}
