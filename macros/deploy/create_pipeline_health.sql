{#-
    Pipeline health (docs/worker.md): what the worker (agent-analytics worker) ran, when, with
    what outcome, and how far behind the data is. The worker writes the runs; service_role
    reads them, `agent-analytics status` shows them, and the alert catalogue's pipeline metrics
    (pipeline_lag_minutes, pipeline_failures) watch them.
-#}

{% macro pipeline_steps() %}
{#- What the worker runs, in the order it runs what is due. -#}
{{ return(['partitions', 'build', 'live', 'alerts', 'retention']) }}
{% endmacro %}


{% macro pipeline_outcomes() %}
{{ return(['running', 'succeeded', 'failed', 'abandoned']) }}
{% endmacro %}


{% macro create_pipeline_health() %}
{% set s = target.schema %}
create table if not exists {{ s }}.pipeline_runs (
    id bigint generated always as identity primary key,
    step text not null,
    worker text not null,
    started_at timestamptz not null default clock_timestamp(),
    ended_at timestamptz,
    outcome text not null default 'running',
    rows_written bigint,
    neutralized_events bigint,
    error text,
    next_run_at timestamptz,
    constraint pipeline_runs_outcome_check check (outcome in ('{{ pipeline_outcomes() | join("', '") }}')),
    constraint pipeline_runs_ended_check check ((outcome = 'running') = (ended_at is null)),
    constraint pipeline_runs_error_length check (length(error) <= 4000),
    constraint pipeline_runs_worker_length check (length(worker) <= 200)
);
{#- Made here, not in the table: a table from an earlier version knows fewer steps. #}
alter table {{ s }}.pipeline_runs drop constraint if exists pipeline_runs_step_check;
alter table {{ s }}.pipeline_runs add constraint pipeline_runs_step_check check (
    step in ('{{ pipeline_steps() | join("', '") }}')
);
comment on table {{ s }}.pipeline_runs is
'agent-analytics: each step the worker ran (build, live, alerts, retention, partitions): start, end, outcome, '
'rows written, events neutralized as bad input, and when it is next due';
create index if not exists idx_pipeline_runs_step_started on {{ s }}.pipeline_runs (step, started_at desc);
create index if not exists idx_pipeline_runs_failed on {{ s }}.pipeline_runs (ended_at) where outcome = 'failed';

create table if not exists {{ s }}.pipeline_model_runs (
    pipeline_run_id bigint not null references {{ s }}.pipeline_runs (id) on delete cascade,
    model_name text not null,
    resource_type text not null,
    started_at timestamptz,
    ended_at timestamptz,
    outcome text not null,
    rows_written bigint,
    message text,
    primary key (pipeline_run_id, model_name),
    constraint pipeline_model_runs_message_length check (length(message) <= 4000)
);
comment on table {{ s }}.pipeline_model_runs is
'agent-analytics: each model, seed and data test of a worker build: start, end, dbt''s status, rows written';

{#- The last run of each step, and the last outcome of each node of the last build that ran it. #}
create or replace view {{ s }}.pipeline_status
with (security_barrier = true)
as
with last_runs as (
    select distinct on (runs.step) runs.*
    from {{ s }}.pipeline_runs as runs
    order by runs.step asc, runs.started_at desc, runs.id desc
),

last_success as (
    select
        runs.step,
        max(runs.ended_at) as last_succeeded_at
    from {{ s }}.pipeline_runs as runs
    where runs.outcome = 'succeeded'
    group by runs.step
),

failures as (
    select
        runs.step,
        count(*) as failures_in_a_row
    from {{ s }}.pipeline_runs as runs
    left join last_success on runs.step = last_success.step
    where
        runs.outcome in ('failed', 'abandoned')
        and runs.started_at > coalesce(last_success.last_succeeded_at, '-infinity')
    group by runs.step
)

select
    last_runs.step,
    last_runs.id as last_run_id,
    last_runs.worker,
    last_runs.started_at,
    last_runs.ended_at,
    last_runs.outcome,
    last_runs.rows_written,
    last_runs.neutralized_events,
    last_runs.error,
    last_runs.next_run_at,
    last_success.last_succeeded_at,
    coalesce(failures.failures_in_a_row, 0)::integer as failures_in_a_row
from last_runs
left join last_success on last_runs.step = last_success.step
left join failures on last_runs.step = failures.step;
comment on view {{ s }}.pipeline_status is
'agent-analytics: per worker step, its last run, its last success, its failures since, and when it is next due';

{#- Up to when every model has taken rows in: the least advanced watermark of a model that
    still exists (a model removed or renamed leaves its row behind, which would hold it for
    good). What the lag and the worker's count of neutralized events start from. #}
create or replace view {{ internal_schema() }}.build_taken_in as
select
    min(watermarks.read_start) as taken_in_until,
    max(watermarks.built_at) as last_built_at
from {{ internal_schema() }}.build_watermarks as watermarks
where exists (
    select from pg_catalog.pg_class as c
    where
        c.relname = watermarks.model_name
        and c.relnamespace in ('{{ target.schema }}'::regnamespace, '{{ internal_schema() }}'::regnamespace)
);
comment on view {{ internal_schema() }}.build_taken_in is
'agent-analytics: the least advanced watermark of the models that exist, and the last build';
revoke all on {{ internal_schema() }}.build_taken_in from public, anon, authenticated, service_role;
{#- the live functions (macros/rollups/live_metrics.sql), made by the build role, start where it ends #}
grant select on {{ internal_schema() }}.build_taken_in to {{ build_role() }};

{#- Data lag: the oldest event and run change that no build has taken in for certain (stamped
    at or after build_taken_in; everything when nothing was built, which reads every row: a
    database is built once before anyone watches its lag). Read with the owner's rights: the
    app's runs through the deploy's view. #}
create or replace view {{ s }}.pipeline_lag
with (security_barrier = true)
as
with taken_in as (
    select
        build_taken_in.taken_in_until,
        build_taken_in.last_built_at
    from {{ internal_schema() }}.build_taken_in
),

pending as (
    select
        taken_in.taken_in_until,
        taken_in.last_built_at,
        (
            select min(events.ingested_at) from {{ s }}.user_activity as events
            where events.ingested_at >= coalesce(taken_in.taken_in_until, '-infinity')
        ) as oldest_pending_event_at,
        (
            select min(runs.updated_at) from {{ app_schema_for_build() }}.agent_runs as runs
            where runs.updated_at >= coalesce(taken_in.taken_in_until, '-infinity')
        ) as oldest_pending_run_at
    from taken_in
)

select
    pending.taken_in_until,
    pending.last_built_at,
    pending.oldest_pending_event_at,
    pending.oldest_pending_run_at,
    greatest(
        0,
        extract(epoch from now() - least(pending.oldest_pending_event_at, pending.oldest_pending_run_at))
    )::numeric(12, 1) as lag_seconds
from pending;
comment on view {{ s }}.pipeline_lag is
'agent-analytics: how far behind the rollups are: the oldest event and run change no build has taken in yet, '
'and its age in seconds (0 when every row is in)';

alter table {{ s }}.pipeline_runs enable row level security;
alter table {{ s }}.pipeline_model_runs enable row level security;
{%- for table in ['pipeline_runs', 'pipeline_model_runs'] %}
drop policy if exists service_role_only on {{ s }}.{{ table }};
create policy service_role_only on {{ s }}.{{ table }} as restrictive for all to anon, authenticated
using (false) with check (false);
{%- endfor %}
revoke all on {{ s }}.pipeline_runs, {{ s }}.pipeline_model_runs, {{ s }}.pipeline_status, {{ s }}.pipeline_lag
from public, anon, authenticated, service_role;
{#- the worker logs in as the owner and writes them; service_role reads them, and cannot
    write a run that would move the schedule #}
grant select on {{ s }}.pipeline_runs, {{ s }}.pipeline_model_runs to service_role;
grant select on {{ s }}.pipeline_status, {{ s }}.pipeline_lag to service_role
{% endmacro %}
