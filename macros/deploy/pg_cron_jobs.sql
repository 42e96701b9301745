{#-
    The project's in-database jobs, which `agent-analytics cron install` schedules with pg_cron
    (docs/pg_cron.md). pg_cron runs a job as the role that scheduled it, so they are the deploy
    owner's (on Supabase, postgres): it owns the functions they call. The install names each job
    agent-analytics-<key>; the schedules are pg_cron 1.4's five fields, in UTC. A job with a
    `seconds_schedule` takes it on pg_cron 1.5 or later, which runs jobs every few seconds: the
    live snapshot every 30 s, as the worker takes it, instead of every minute.
-#}

{% macro pg_cron_jobs() %}
{% set s = target.schema %}
{{ return([
    {
        'key': 'retention',
        'schedule': '15 3 * * *',
        'command': 'select ' ~ s ~ '.cleanup_old_data()',
        'function': s ~ '.cleanup_old_data()',
        'description': 'retention: drops raw events and hourly rows past their retention, daily',
    },
    {
        'key': 'partitions',
        'schedule': '5 0 * * *',
        'command': ensure_default_partitions() | trim,
        'function': s ~ '.ensure_user_activity_partitions(date, date)',
        'description': "user_activity's daily partitions, as every build makes them, also when no build runs",
    },
    {
        'key': 'refresh',
        'schedule': '*/15 * * * *',
        'command': 'select ' ~ s ~ '.refresh_all_materialized_views()',
        'function': s ~ '.refresh_all_materialized_views()',
        'description': 'the materialized views refreshed between the hourly builds',
    },
    {
        'key': 'live',
        'schedule': '* * * * *',
        'seconds_schedule': '30 seconds',
        'command': 'select ' ~ s ~ '.refresh_live_metrics()',
        'function': s ~ '.refresh_live_metrics()',
        'description': 'the live snapshot that the live functions answer from while it is at most a minute old',
    },
    {
        'key': 'alerts',
        'schedule': '* * * * *',
        'command': 'select ' ~ s ~ '.evaluate_alerts()',
        'function': s ~ '.evaluate_alerts(timestamptz)',
        'description': 'the alert rules evaluated; `agent-analytics alerts run` delivers what they queue',
    },
]) }}
{% endmacro %}


{% macro print_pg_cron_jobs() %}
{{ print(tojson(pg_cron_jobs())) }}
{% endmacro %}
