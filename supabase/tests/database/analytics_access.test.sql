-- The access rules of the analytics schema as pgTAP tests, for `supabase test db` (run as
-- postgres on a deployed and built database with the app's data). Each request is made as
-- PostgREST makes it: the role and the JWT claims set in the transaction.
begin;
select plan(25);

-- A member of exactly one workspace, a workspace they are not in, and a signed-in user of none.
select m.user_id as member, m.workspace_id as home
from public.workspace_members as m
where (select count(*) from public.workspace_members as o where o.user_id = m.user_id) = 1
order by m.user_id
limit 1
\gset
select w.id as foreign_workspace from public.workspaces as w where w.id <> :'home' order by w.id limit 1
\gset

select isnt_empty($$ select 1 from analytics.daily_metrics where workspace_id = '$$ || :'home' || $$' $$,
    'the member''s workspace has daily rows to see');

-- As the member.
select set_config('request.jwt.claims', json_build_object('sub', :'member', 'role', 'authenticated')::text, true);
select set_config('role', 'authenticated', true);

select isnt_empty('select 1 from analytics.daily_metrics', 'a member reads daily_metrics');
select is_empty($$ select 1 from analytics.daily_metrics where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'a member reads only their workspace''s daily rows, not the platform row');
select is_empty($$ select 1 from analytics.hourly_metrics where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'hourly_metrics: only their workspace');
select is_empty($$ select 1 from analytics.agent_performance where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'agent_performance: only their workspace');
select is_empty($$ select 1 from analytics.user_cohorts where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'user_cohorts: only their workspace');
select is_empty($$ select 1 from analytics.user_activity where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'user_activity: only their workspace');
select isnt_empty('select 1 from analytics.member_active_users()', 'member_active_users() answers');
select is_empty($$ select 1 from analytics.member_active_users() where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'member_active_users(): only their workspace');
select is_empty($$ select 1 from analytics.member_top_agents() where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'member_top_agents(): only their workspace');
select is_empty($$ select 1 from analytics.member_workspace_summary() where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'member_workspace_summary(): only their workspace');
select isnt_empty('select 1 from analytics.mv_top_agents', 'a member reads mv_top_agents');
select is_empty($$ select 1 from analytics.mv_active_users where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'mv_active_users: only their workspace, not the platform rows');
select is_empty($$ select 1 from analytics.mv_top_agents where workspace_id is distinct from '$$ || :'home' || $$' $$,
    'mv_top_agents: only their workspace');
select throws_ok('select * from analytics_app.users', '42501', null, 'the build''s views of the app are closed');
select throws_ok('select * from analytics_internal.int_user_scope_days', '42501', null,
    'the internal schema is closed');
select throws_ok($$ update analytics.daily_metrics set total_runs = 0 $$, '42501', null, 'members write no rollup');
select throws_ok($$ select analytics.cleanup_old_data() $$, '42501', null, 'members run no maintenance');
select throws_ok(
    $$ select analytics.track_event('page_view', '$$ || :'foreign_workspace' || $$'::uuid) $$,
    '42501', null, 'track_event refuses a workspace the caller is not in');
select lives_ok(
    $$ select analytics.track_event('page_view', '$$ || :'home' || $$'::uuid) $$,
    'track_event records an event in the caller''s workspace');

-- As anon.
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select set_config('role', 'anon', true);
select throws_ok('select * from analytics.daily_metrics', '42501', null, 'anon reads nothing');
select throws_ok('select * from analytics.member_active_users()', '42501', null, 'anon calls no member function');
select throws_ok('select * from analytics.mv_workspace_summary', '42501', null, 'anon reads no summary');
select throws_ok($$ select analytics.track_event('page_view') $$, '42501', null, 'anon tracks nothing');

-- As a signed-in user of no workspace.
select set_config('request.jwt.claims', json_build_object('sub', gen_random_uuid(), 'role', 'authenticated')::text, true);
select set_config('role', 'authenticated', true);
select is_empty('select 1 from analytics.daily_metrics', 'a user of no workspace sees no rollup row');

select * from finish();
rollback;
