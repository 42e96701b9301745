-- The demo app: the main app's `public` tables (main-app-contract.md) as a Supabase app has them,
-- for a database that has no app. Run as the app's owner, postgres: the tables are postgres's,
-- row-level security is on with policies for signed-in users only (Supabase's linter asks for
-- it), and users.id references auth.users. The comment on public.users tells tools it is the
-- demo app and not a real one.
create table if not exists public.users (
    id uuid primary key references auth.users (id) on delete cascade,
    email text not null unique,
    full_name text,
    created_at timestamptz not null default now(),
    last_sign_in_at timestamptz
);
comment on table public.users is 'agent-analytics stand-in of the main app';

create table if not exists public.workspaces (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    plan text not null check (plan in ('free', 'pro', 'enterprise')),
    created_at timestamptz not null default now()
);

create table if not exists public.workspace_members (
    workspace_id uuid not null references public.workspaces (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    joined_at timestamptz not null default now(),
    primary key (workspace_id, user_id)
);
create index if not exists workspace_members_user_id_idx on public.workspace_members (user_id);

create table if not exists public.agents (
    id uuid primary key default gen_random_uuid(),
    workspace_id uuid not null references public.workspaces (id) on delete cascade,
    name text not null,
    created_by uuid references public.users (id) on delete set null,
    created_at timestamptz not null default now()
);
create index if not exists agents_workspace_id_idx on public.agents (workspace_id);

create table if not exists public.agent_runs (
    id uuid primary key default gen_random_uuid(),
    agent_id uuid not null references public.agents (id) on delete cascade,
    workspace_id uuid not null references public.workspaces (id) on delete cascade,
    user_id uuid not null references public.users (id) on delete cascade,
    status text not null check (status in ('queued', 'running', 'completed', 'failed', 'cancelled')),
    started_at timestamptz not null,
    completed_at timestamptz,
    runtime_seconds numeric(12, 3),
    credits_consumed numeric(12, 4) not null default 0,
    model text not null,
    tokens_used integer not null default 0,
    error_type text,
    error_message text,
    user_rating smallint check (user_rating between 1 and 5),
    feedback text,
    updated_at timestamptz not null default now()
);
create index if not exists agent_runs_started_at_idx on public.agent_runs (started_at);
create index if not exists agent_runs_updated_at_idx on public.agent_runs (updated_at);
create index if not exists agent_runs_agent_id_idx on public.agent_runs (agent_id, started_at);
create index if not exists agent_runs_workspace_id_idx on public.agent_runs (workspace_id, started_at);

create or replace function public.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

create or replace trigger agent_runs_touch_updated_at
before update on public.agent_runs
for each row execute function public.touch_updated_at();

-- Row-level security on every table, with policies for signed-in members only: no policy is
-- written for any role of the analytics project.
alter table public.users enable row level security;
alter table public.workspaces enable row level security;
alter table public.workspace_members enable row level security;
alter table public.agents enable row level security;
alter table public.agent_runs enable row level security;

drop policy if exists users_read_self on public.users;
create policy users_read_self on public.users
    for select to authenticated using (id = (select auth.uid()));
drop policy if exists workspace_members_read_own on public.workspace_members;
create policy workspace_members_read_own on public.workspace_members
    for select to authenticated using (user_id = (select auth.uid()));
drop policy if exists workspaces_read_member on public.workspaces;
create policy workspaces_read_member on public.workspaces
    for select to authenticated
    using (id in (select m.workspace_id from public.workspace_members as m where m.user_id = (select auth.uid())));
drop policy if exists agents_read_member on public.agents;
create policy agents_read_member on public.agents
    for select to authenticated
    using (workspace_id in (select m.workspace_id from public.workspace_members as m where m.user_id = (select auth.uid())));
drop policy if exists agent_runs_read_member on public.agent_runs;
create policy agent_runs_read_member on public.agent_runs
    for select to authenticated
    using (workspace_id in (select m.workspace_id from public.workspace_members as m where m.user_id = (select auth.uid())));
