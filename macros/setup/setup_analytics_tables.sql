{% macro setup_analytics_tables() %}
{#- The on-run-start steps on their own (dbt run-operation setup_analytics_tables), so the app
    can write events before the first build. -#}
{% for step in [assert_supabase_environment(), create_analytics_schema(), create_maintenance_functions(),
                create_user_activity_table(), create_alert_tables(), create_audit_log(),
                create_alert_rules_audit_trigger(), create_build_watermarks_table(),
                ensure_default_partitions()] %}
    {% do run_query(step) %}
{% endfor %}
{{ log("Schema " ~ target.schema ~ " has its app-written tables and maintenance functions.", info=true) }}
{% endmacro %}
