{% macro build_session_settings() -%}
{#- Run before every model (a pre-hook in dbt_project.yml). The build's queries are many and
    short: JIT compilation cost seconds per model and saved nothing here, so it is off unless
    var build_jit says otherwise; var build_work_mem lets their sorts and hashes stay in memory.
    Each node runs on a connection of its own: note_read_start applies the same settings before
    a model's compile-time queries, and postgres__get_where_subquery before a data test. -#}
set jit = {{ 'on' if var('build_jit', false) else 'off' }};
set work_mem = '{{ checked_var('build_work_mem') }}';
{{ commit_durably() }}
{%- endmacro %}


{% macro commit_durably() -%}
{#- Where the database commits asynchronously (synchronous_commit off), a crash of the server
    can lose commits it had acknowledged: a model's rows and watermark, which the build's later
    models, run on the restarted server, would then read without them and move their own
    watermarks past. Each of the build's commits waits for its WAL to reach the disk (local:
    what standbys receive is not what a crash loses); a stronger setting is kept. -#}
select set_config('synchronous_commit', 'local', false)
where current_setting('synchronous_commit') = 'off'
{%- endmacro %}
