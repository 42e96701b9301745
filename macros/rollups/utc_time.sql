{#- UTC days and hours: every day and hour of the rollups is UTC, whatever the session's
    TimeZone. -#}


{% macro utc_date(column) -%}
({{ column }} at time zone 'UTC')::date
{%- endmacro %}


{% macro utc_today() -%}
(now() at time zone 'UTC')::date
{%- endmacro %}


{% macro utc_day_start(day) -%}
(({{ day }})::timestamp at time zone 'UTC')
{%- endmacro %}


{% macro utc_hour(column) -%}
(date_trunc('hour', {{ column }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}


{% macro utc_period(period, column) -%}
{%- if period == 'day' -%}
    {{ utc_date(column) }}
{%- elif period == 'hour' -%}
    {{ utc_hour(column) }}
{%- else -%}
    {{ exceptions.raise_compiler_error("utc_period: period is 'day' or 'hour', not " ~ period) }}
{%- endif -%}
{%- endmacro %}


{% macro cohort_start(period, day) -%}
{#- The first day of the daily, weekly (ISO, from Monday) or monthly cohort period of `day`. -#}
case {{ period }}
    when 'daily' then {{ day }}
    when 'weekly' then date_trunc('week', {{ day }}::timestamp)::date
    else date_trunc('month', {{ day }}::timestamp)::date
end
{%- endmacro %}
