{#-
    What an incremental build takes in. Events are stamped with ingested_at when they reach
    the database, runs with updated_at whenever the app changes them: both are now() of the
    writing transaction. Before a model reads anything it notes from when rows may still be
    invisible to it (the start of the oldest open transaction); after it has written, it
    records that moment (build_watermarks), and the next build takes in every row stamped
    since. What it then recomputes (user-hours, sessions, days, hours, agent-days) is the set
    those rows touch, whatever day they belong to: a late event is taken in however late.
-#}


{% macro is_backfill() %}
{#- True when this incremental build rebuilds chosen days (vars backfill_from and backfill_to). -#}
{{ return(is_incremental() and checked_var('backfill_from') is not none and checked_var('backfill_to') is not none) }}
{% endmacro %}


{% macro read_start_sql() -%}
{#- The moment from which rows may be invisible to a read that starts now: the start of the
    oldest transaction still open (a row is stamped with its transaction's start, and shows
    only once it commits), or now; the deploy's function reads it with the owner's right to see
    other sessions. Where the owner has no such right, the commit margin before now. -#}
coalesce(
    {{ internal_schema() }}.oldest_open_transaction_start(),
    now() - interval '{{ checked_var('commit_margin') }}'
)
{%- endmacro %}


{% macro note_read_start() -%}
{#- Called first in every model that records watermarks, before it reads anything: keeps
    read_start_sql() on the connection for record_watermarks. Renders nothing. It also applies
    the build's session settings: the queries these models run while they compile (what was
    taken in, watermarks) come before the pre-hook, and with JIT on, a query over every event
    partition spent seconds compiling for milliseconds of work. -#}
{%- if execute -%}
    {%- do run_query(build_session_settings()) -%}
    {%- do pause_before_reading() -%}
    {%- do run_query(
        "select set_config('analytics.read_start_" ~ this.identifier ~ "', (" ~ build_cut_sql() ~ ")::text, false)"
    ) -%}
{%- endif -%}
{%- endmacro %}


{% macro build_cut_sql() -%}
{#- This build's cut (record_build_cut, before any model read): every model records it as its
    watermark, so what arrived before it is in every model by the end of the build, and what
    arrived after is taken in by every model in the next. A model compiled outside a build
    (dbt compile or show: no cut recorded for this invocation) falls back to its own read
    start; a model that builds refuses to without the cut (assert_build_cut_recorded). -#}
coalesce(
    (
        select build_cuts.cut
        from {{ internal_schema() }}.build_cuts
        where build_cuts.invocation_id = '{{ invocation_id }}'
    ),
    {{ read_start_sql() | indent(4) }}
)
{%- endmacro %}


{% macro record_build_cut() %}
{#- on-run-start, before any model reads: the moment before which every event and run change
    has committed (read_start_sql), fixed once for the whole build. A cut that a crash loses
    stops the models (assert_build_cut_recorded); once a model has committed, durably
    (commit_durably), the WAL before it, the cut's with it, has reached the disk too. -#}
delete from {{ internal_schema() }}.build_cuts
where started_at < now() - interval '7 days';
insert into {{ internal_schema() }}.build_cuts (invocation_id, cut)
values ('{{ invocation_id }}', {{ read_start_sql() }})
on conflict (invocation_id) do nothing
{% endmacro %}


{% macro assert_build_cut_recorded() %}
{#- A pre-hook of every model that records a watermark. A failed on-run-start hook does not
    stop dbt: without this build's cut, each model would record its own read start, and would
    miss for good what committed between an upstream model's start and its own. So the model
    fails instead, and everything downstream of it is skipped. -#}
do $cut$
begin
    if not exists (
        select from {{ internal_schema() }}.build_cuts
        where build_cuts.invocation_id = '{{ invocation_id }}'
    ) then
        raise exception 'agent-analytics: this build recorded no cut (the on-run-start hook record_build_cut failed: its error is above), so no model takes anything in and no watermark moves: build again';
    end if;
end
$cut$
{% endmacro %}


{% macro pause_before_reading() -%}
{#- A seam for tests that interleave the app's writes between two models of one build: with
    var pause_before set to this model's name, the model waits, before it reads anything, for
    whoever holds the advisory lock 'agent-analytics pause' to let it go. Renders nothing. -#}
{%- if var('pause_before', none) == this.identifier -%}
    {%- do run_query(
        "select pg_advisory_lock_shared(hashtext('agent-analytics pause')); "
        ~ "select pg_advisory_unlock_shared(hashtext('agent-analytics pause'))"
    ) -%}
{%- endif -%}
{%- endmacro %}


{% macro build_watermark() -%}
{#- From when this model's last build may not have seen the rows, as a literal; empty when it
    never built. A unit test gives it as the var unit_test_watermark. -#}
{%- if var('unit_test_watermark', none) -%}
    '{{ var('unit_test_watermark') }}'::timestamptz
{%- elif execute -%}
    {%- set found = run_query(
        'select read_start::text from ' ~ internal_schema() ~ ".build_watermarks where model_name = '"
        ~ this.identifier ~ "' and read_start is not null"
    ) -%}
    {%- if found.rows | length -%}
        '{{ found.columns[0].values()[0] }}'::timestamptz
    {%- endif -%}
{%- endif -%}
{%- endmacro %}


{% macro record_watermarks() %}
{#- After the build wrote: the next one takes in what was stamped since this build's read
    started (note_read_start). A backfill rebuilds chosen days only and leaves it alone. -#}
{%- if is_backfill() %}
select 'backfill: the watermark of {{ this.identifier }} stays as it was'
{%- else %}
insert into {{ internal_schema() }}.build_watermarks (model_name, read_start, built_at)
values (
    '{{ this.identifier }}',
    coalesce(
        nullif(current_setting('analytics.read_start_{{ this.identifier }}', true), '')::timestamptz,
        now() - interval '{{ checked_var('commit_margin') }}'
    ),
    now()
)
on conflict (model_name) do update
    set read_start = excluded.read_start, built_at = excluded.built_at
{%- endif %}
{% endmacro %}
