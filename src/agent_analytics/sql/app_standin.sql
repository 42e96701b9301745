-- A stand-in of the main app's `public` tables (main-app-contract.md), for a database that has
-- no app. The comment on public.users marks it, so tools can tell it from a real app.
create table if not exists public.users (
    id uuid primary key default gen_random_uuid(),
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

-- Supabase exposes public to the API roles; the stand-in does the same.
grant usage on schema public to anon, authenticated, service_role;
grant select on all tables in schema public to authenticated, service_role;
