{#-
    What staging keeps of values that callers choose (docs/security.md, "Stored values"). A
    value outside these bounds is neutralized (NULL, `other`, or the event left out of the
    rollups), never an error that would stop a build; analytics.input_quality counts them.
-#}

{% macro bounded_label(expression) -%}
{#- A free-form label that becomes a JSON key or a dashboard label (an error type): kept when it
    is a short identifier, `other` when it is not, NULL when missing or blank. -#}
case
    when nullif(btrim({{ expression }}), '') is null then null
    when btrim({{ expression }}) ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' then btrim({{ expression }})
    else 'other'
end
{%- endmacro %}


{% macro max_event_names_per_day() -%}
{#- How many event names a day, workspace (or the platform) and event type keeps in
    event_usage_daily; the rest count together under other_event_names(). -#}
100
{%- endmacro %}


{% macro other_event_names() -%}
{#- The event_name of event_usage_daily's row for the names past max_event_names_per_day(). -#}
'(other names)'
{%- endmacro %}


{% macro max_response_time_ms() -%}
{#- A day: an API response time beyond it is not a measurement (and would not fit the rollups). -#}
86400000
{%- endmacro %}


{% macro max_runtime_seconds() -%}
{#- A year: a run time beyond it is not a measurement. -#}
31536000
{%- endmacro %}


{% macro plausible_event_time(created_at, ingested_at) -%}
{#- An event's time is believed from 1000 days before it reached the database (a backfill of
    old events) until a day after; others (a clock far off, a hand-made row) are left out of
    the rollups. The bound also keeps a session's length within what the rollups hold. -#}
(
    {{ created_at }} >= {{ ingested_at }} - interval '1000 days'
    and {{ created_at }} <= {{ ingested_at }} + {{ max_event_lead() }}
)
{%- endmacro %}


{% macro max_event_lead() -%}
{#- How far past its arrival an event's time may be (plausible_event_time); the live functions
    bound their window with it. -#}
interval '1 day'
{%- endmacro %}


{% macro credit_sum_type() -%}
{#- Sums of credits (and revenue): the app's credits_consumed is numeric(12,4), so a few runs at
    its largest value overflowed the spec's numeric(10,2) and (15,2) and stopped every build. -#}
numeric(20, 2)
{%- endmacro %}


{% macro credit_average_type() -%}
{#- An average of credits per run: one run's largest credits rounds to 10^8. -#}
numeric(14, 2)
{%- endmacro %}


{% macro credit_grain_type() -%}
numeric(24, 4)
{%- endmacro %}


{% macro widen_columns(types) %}
{#- A pre-hook: a table an earlier version built with a narrower type gets the wider one before
    this build writes into it (widening a numeric keeps its scale: no rewrite). -#}
do $widen$
declare
    target_table regclass := to_regclass('{{ this }}');
begin
    if target_table is null then
        return;
    end if;
{%- for column, type in types.items() %}
    if exists (
        select from pg_catalog.pg_attribute
        where attrelid = target_table and attname = '{{ column }}'
          and pg_catalog.format_type(atttypid, atttypmod) <> replace('{{ type }}', ' ', '')
    ) then
        alter table {{ this }} alter column {{ column }} type {{ type }};
    end if;
{%- endfor %}
end
$widen$
{% endmacro %}
