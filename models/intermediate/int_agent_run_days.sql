{{
    incremental_grain(
        takes_in=['runs'],
        tested_since='run_date',
        unique_key='id',
        post_hook=[
            "{{ ensure_table_ddl(constraints={'int_agent_run_days_pkey': 'primary key (id)'}) }}",
            "{{ ensure_index('int_agent_run_days_agent_idx', '(agent_id, run_date)') }}",
            "{{ ensure_index('int_agent_run_days_date_idx', '(run_date)') }}",
            "{{ delete_days_without_runs('run_date') }}",
        ],
    )
}}

{#-
    Each agent's runs of each UTC day, kept so that mv_top_agents adds up 30 days of these
    instead of reading and sorting 30 days of runs: the sums and counts add up, and the
    runtimes and users are kept whole (sorted arrays), because a median and a count of
    distinct users do not add up from daily figures. A build recomputes the agent-days of
    the runs it takes in, from all of their runs, as agent_performance does.
-#}
with runs as (
    {{ runs_of_touched_agent_days(ref('int_agent_runs')) }}
),

final as (
    select
        {{ row_id(['agent_id', 'run_date']) | indent(8) }} as id,
        agent_id,
        run_date,
        count(*)::integer as run_count,
        (count(*) filter (where is_successful))::integer as completed_count,
        (count(runtime_seconds))::integer as runtime_count,
        sum(runtime_seconds) as runtime_sum,
        coalesce(
            array_agg(runtime_seconds order by runtime_seconds) filter (where runtime_seconds is not null),
            '{}'
        ) as runtimes,
        sum(credits_consumed) as credits,
        coalesce(array_agg(distinct user_id) filter (where user_id is not null), '{}') as user_ids,
        max(started_at) as last_run_at
    from runs
    group by agent_id, run_date
)

select * from final
{{ time_ordered_on_full_build('run_date') }}
