{#-
    The owner's deploy: everything that is made once per version of this project and is not a
    dbt model (the build role, schemas, the views through which the build reads the app, the
    tables the app writes, functions, triggers, policies, grants). Run as the database owner
    (on Supabase, postgres):

        dbt run-operation deploy --target owner        (agent-analytics deploy)

    Each step runs in a transaction of its own (dbt's run_query commits each call; the
    migration file of deploy_script runs whole in one) and is recorded in
    analytics_internal.deploy_steps with the checksum of its SQL: a re-run executes nothing, an
    upgrade executes the steps whose SQL changed, and a deploy stopped part way leaves the
    steps it finished, so the next runs the rest. Every step is idempotent on its own too (a deploy interrupted, or run with
    force=true, changes nothing that is in place), and no step drops or empties what the app
    wrote. docs/deploy.md maps every object to its step.
-#}

{% macro build_role() -%}
{#- The least-privileged role that builds the models (profile setting `role`). -#}
{{ env_var('DBT_BUILD_ROLE', 'analytics_builder') }}
{%- endmacro %}


{% macro reporting_role() -%}
{#- The role for internal dashboards and BI tools (deploy step reporting_role). -#}
{{ var('reporting_role') }}
{%- endmacro %}


{% macro operator_readers() -%}
{#- Who may SELECT the platform-wide figures: operators and the reporting role. (A var cannot
    be read in dbt_project.yml's own configs, so the models name them through this.) -#}
{{ return(['service_role', reporting_role()]) }}
{%- endmacro %}


{% macro rollup_readers() -%}
{#- Who may SELECT a rollup with RLS: members (their workspaces' rows) and operator_readers(). -#}
{{ return(['authenticated'] + operator_readers()) }}
{%- endmacro %}


{% macro checked_var(name) %}
{#- The var `name`, once it is of its kind and in its range. The deploy and the build write these
    vars into their SQL, where anything else would fail with an error that does not name the var,
    or change what the SQL says (a quote in a string ends its literal). Each var that is written
    into SQL is listed here with what it may be. -#}
{% set numbers = {
    'credit_price_usd': [0, 1000, 'a price in USD', false],
    'track_event_per_minute': [1, max_track_event_per_minute() | int, 'a whole number of events', true],
    'trusted_proxies': [1, 10, 'a whole number of proxies', true],
    'lookback_days': [1, 30, 'a whole number of days', true],
    'raw_event_retention_days': [1, 3650, 'a whole number of days', true],
    'hourly_retention_days': [1, 3650, 'a whole number of days', true],
    'partitions_ahead_days': [1, 366, 'a whole number of days', true],
    'recent_activity_days': [8, 31, 'a whole number of days', true],
} %}
{% set interval = '[0-9]+( *(seconds?|secs?|s|minutes?|mins?|m|hours?|h|days?|d))?|[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?' %}
{% set day = '[0-9]{4}-[0-9]{2}-[0-9]{2}' %}
{#- [pattern, what it is, whether it may be none] #}
{% set patterns = {
    'commit_margin': [interval, "a time such as '10 minutes'", false],
    'test_recent_window': [interval, "a time such as '2 hours'", false],
    'build_work_mem': ['[1-9][0-9]*( *(kB|MB|GB|TB))?', "an amount of memory such as '64MB'", false],
    'report_date': [day, 'a day such as 2026-06-30, or null', true],
    'backfill_from': [day, 'a day such as 2026-06-30, or null', true],
    'backfill_to': [day, 'a day such as 2026-06-30, or null', true],
} %}
{% set value = var(name) %}
{% if name in numbers %}
    {% set low, high, what, whole = numbers[name] %}
    {% if value is boolean or value is not number or (whole and value is not integer)
          or not (low <= value <= high) %}
        {{ exceptions.raise_compiler_error(
            'var ' ~ name ~ ': ' ~ what ~ ' from ' ~ low ~ ' to ' ~ high ~ ', not ' ~ value) }}
    {% endif %}
{% elif name in patterns %}
    {% set pattern, what, nullable = patterns[name] %}
    {#- YAML reads 2026-06-30 as a date and 600 as a number: their text is what SQL gets #}
    {% if value is none and not nullable
          or value is not none and (value is boolean or not modules.re.fullmatch(pattern, value | string)) %}
        {{ exceptions.raise_compiler_error('var ' ~ name ~ ': ' ~ what ~ ', not ' ~ value) }}
    {% endif %}
{% else %}
    {{ exceptions.raise_compiler_error('checked_var: no check for the var ' ~ name) }}
{% endif %}
{{ return(value) }}
{% endmacro %}


{% macro definer_search_path() -%}
{#- Every function of the project pins this. pg_temp last: an unpinned or empty search_path
    still searches the caller's temporary schema first for table and type names, so a caller
    could shadow a name the function uses with an object of their own that runs code. -#}
pg_catalog, pg_temp
{%- endmacro %}


{% macro maintenance_function_settings() -%}
{#- The settings of a maintenance function that runs the build's kind of queries: the pinned
    search_path, no JIT (its compilation costs more than these short queries take), and the
    build's work_mem. -#}
set search_path = {{ definer_search_path() }}
set jit = off
set work_mem = '{{ checked_var('build_work_mem') }}'
{%- endmacro %}


{% macro app_schema_for_build() -%}
{#- Where the build reads the app: views owned by the deploying owner (docs/deploy.md). -#}
{{ target.schema }}_app
{%- endmacro %}


{% macro deploy_steps() %}
{#- [name, sql, every_time]: in order. Steps marked every_time run at every deploy (checks,
    repairs and partition upkeep that look before they act); the others when their SQL changed. -#}
{{ return([
    ['check_app', deploy_check_app(), true],
    ['build_role', deploy_build_role(), false],
    ['build_role_temp', deploy_build_role_temp(), true],
    ['schemas', deploy_schemas(), false],
    ['reporting_role', deploy_reporting_role(), false],
    ['app_views', deploy_app_views(), false],
    ['app_access', deploy_app_access(), true],
    ['maintenance_functions', create_maintenance_functions(), false],
    ['user_activity', create_user_activity_table(), false],
    ['user_activity_indexes', create_user_activity_indexes(), true],
    ['recent_activity', create_recent_activity(), false],
    ['recent_activity_checks', drop_recent_activity_checks(), true],
    ['alert_tables', create_alert_tables(), false],
    ['alert_catalogue', create_alert_catalogue(), false],
    ['alert_rule_checks', create_alert_rule_checks(), false],
    ['alert_state', create_alert_state_tables(), false],
    ['audit_log', create_audit_log(), false],
    ['build_bookkeeping', create_build_watermarks_table(), false],
    ['live_snapshots', create_live_snapshot_bookkeeping(), false],
    ['track_event_limit', create_track_event_limit(), false],
    ['erasure', create_erasure(), false],
    ['partitions', ensure_default_partitions(), true],
    ['api_functions', create_api_functions(), false],
    ['reporting_settings', create_reporting_settings(), false],
    ['alert_api', create_alert_api(), false],
    ['refresh_function', create_refresh_function(), false],
    ['pipeline_health', create_pipeline_health(), false],
    ['alert_evaluation', create_alert_evaluation(), false],
    ['grants', grant_analytics_privileges(), false],
]) }}
{% endmacro %}


{% macro deploy_fingerprint() -%}
{#- One checksum of every versioned step: what the build compares with the deployed one. -#}
{%- set parts = [] -%}
{%- for name, statements, every_time in deploy_steps() if not every_time -%}
    {%- do parts.append(name ~ ':' ~ local_md5(statements)) -%}
{%- endfor -%}
{{ local_md5(parts | join(',')) }}
{%- endmacro %}


{% macro deploy_ledger_sql() %}
create schema if not exists {{ internal_schema() }};
create table if not exists {{ internal_schema() }}.deploy_steps (
    step text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
);
comment on table {{ internal_schema() }}.deploy_steps is
'agent-analytics deploy: the checksum of each step as last applied; (fingerprint) is what builds compare';
revoke all on {{ internal_schema() }}.deploy_steps from public
{% endmacro %}


{% macro deploy_record_sql(step, checksum) %}
insert into {{ internal_schema() }}.deploy_steps (step, checksum, applied_at)
values ('{{ step }}', '{{ checksum }}', now())
on conflict (step) do update set checksum = excluded.checksum, applied_at = excluded.applied_at
{% endmacro %}


{% macro disabled_deploy_triggers_sql() %}
{#- The names of the triggers of the project's schemas that are disabled, or fire only on a
    replica (none before the first deploy); a partition's clone of a trigger has its name. The
    deploy runs the step that makes each again, and create_trigger_if_missing enables it
    (docs/deploy.md, "A trigger found disabled"). -#}
select distinct triggers.tgname
from pg_catalog.pg_trigger as triggers
inner join pg_catalog.pg_class as tables on triggers.tgrelid = tables.oid
where
    not triggers.tgisinternal
    and triggers.tgenabled not in ('O', 'A')
    and tables.relnamespace in (
        to_regnamespace('{{ target.schema }}'), to_regnamespace('{{ internal_schema() }}')
    )
{% endmacro %}


{% macro deploy_lock_key() -%}
{#- The advisory lock one deploy holds from start to end; cleanup_old_data() takes it shared. -#}
pg_catalog.hashtext('agent-analytics deploy')
{%- endmacro %}


{% macro deploy(force=false) %}
{#- dbt's run_query commits each call: the lock that keeps a second deploy, and
    cleanup_old_data(), from running beside this one is the session's, let go at the end (or
    when the connection closes on an error). #}
{%- do run_query("select pg_advisory_lock(" ~ deploy_lock_key() ~ ")") -%}
{%- do run_query(deploy_ledger_sql()) -%}
{%- set applied = {} -%}
{%- for row in run_query("select step, checksum from " ~ internal_schema() ~ ".deploy_steps").rows -%}
    {%- do applied.update({row[0]: row[1]}) -%}
{%- endfor -%}
{%- set disabled = [] -%}
{%- for row in run_query(disabled_deploy_triggers_sql()).rows -%}
    {%- do disabled.append(row[0]) -%}
{%- endfor -%}
{%- set changed = [] -%}
{%- set to_enable = [] -%}
{%- for name, statements, every_time in deploy_steps() -%}
    {%- set checksum = local_md5(statements) -%}
    {%- set reenables = [] -%}
    {%- for trigger in disabled if ('create trigger ' ~ trigger ~ ' ') in statements -%}
        {%- do reenables.append(trigger) -%}
        {%- do to_enable.append(trigger) -%}
    {%- endfor -%}
    {%- if reenables -%}
        {{ log("deploy: trigger " ~ (reenables | join(', ')) ~ " was disabled (what was written meanwhile did "
               ~ "not fire it); step " ~ name ~ " runs again to enable it", info=true) }}
    {%- endif -%}
    {%- if force or every_time or reenables or applied.get(name) != checksum -%}
        {%- do run_query(statements) -%}
        {%- do run_query(deploy_record_sql(name, checksum)) -%}
        {%- if not every_time -%}{%- do changed.append(name) -%}{%- endif -%}
    {%- endif -%}
{%- endfor -%}
{%- do run_query(deploy_record_sql('(fingerprint)', deploy_fingerprint())) -%}
{%- if to_enable -%}
    {%- set still = [] -%}
    {%- for row in run_query(disabled_deploy_triggers_sql()).rows if row[0] in to_enable -%}
        {%- do still.append(row[0]) -%}
    {%- endfor -%}
    {%- if still -%}
        {{ log("deploy: trigger " ~ (still | join(', ')) ~ " is still disabled: its table's writes held it over "
               ~ "half a second; run the deploy again", info=true) }}
    {%- endif -%}
{%- endif -%}
{%- if changed -%}
    {{ log("deploy: applied " ~ (changed | join(', ')) ~ "; the build role " ~ build_role() ~ " can build", info=true) }}
{%- else -%}
    {{ log("deploy: everything was in place; nothing changed", info=true) }}
{%- endif -%}
{%- do run_query("select pg_advisory_unlock(" ~ deploy_lock_key() ~ ")") -%}
{% endmacro %}


{% macro deploy_script() %}
{#- The whole deploy as one SQL script, for the Supabase CLI's migrations folder
    (agent-analytics deploy --migration-file). Idempotent: safe to apply over any deploy. -#}
-- agent-analytics deploy (fingerprint {{ deploy_fingerprint() }}): generated, do not edit.
-- Apply as the database owner (supabase db push); then build with agent-analytics build.
select pg_advisory_xact_lock({{ deploy_lock_key() }});
{{ deploy_ledger_sql() }};
{% for name, statements, every_time in deploy_steps() %}
-- step {{ name }}
{{ statements }};
{{ deploy_record_sql(name, local_md5(statements)) }};
{% endfor %}
{{ deploy_record_sql('(fingerprint)', deploy_fingerprint()) }};
{% endmacro %}


{% macro print_deploy_script() %}
{{ print(deploy_script()) }}
{% endmacro %}
