-- One database as Supabase makes it (../shared/spec/supabase-environment.md): owned by postgres,
-- `public` owned by pg_database_owner with the API roles' default privileges, `extensions`, and
-- the `auth` schema owned by supabase_admin, its tables and functions by supabase_auth_admin,
-- USAGE granted to postgres without grant option. Run as supabase_admin in the database, after
-- roles.sql. Idempotent.

-- public: CREATE only for its owner; USAGE for everyone and the API roles.
alter schema public owner to pg_database_owner;
revoke create on schema public from public;
grant usage on schema public to public, anon, authenticated, service_role;

-- Every table, sequence and function postgres (or the platform) makes in public is granted to
-- the API roles without a GRANT.
alter default privileges for role postgres in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on functions to postgres, anon, authenticated, service_role;

create schema if not exists extensions;
alter schema extensions owner to postgres;
grant usage on schema extensions to anon, authenticated, service_role;
do $extensions$
begin
    if exists (select from pg_available_extensions where name = 'pgcrypto') then
        create extension if not exists pgcrypto with schema extensions;
    end if;
    if exists (select from pg_available_extensions where name = 'uuid-ossp') then
        create extension if not exists "uuid-ossp" with schema extensions;
    end if;
end
$extensions$;

create schema if not exists auth authorization supabase_admin;
revoke all on schema auth from public;
grant usage on schema auth to anon, authenticated, service_role, postgres;
grant create on schema auth to supabase_auth_admin, dashboard_user;

create table if not exists auth.users (
    instance_id uuid,
    id uuid primary key,
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    created_at timestamptz,
    updated_at timestamptz
);
alter table auth.users owner to supabase_auth_admin;
grant all on auth.users to dashboard_user, postgres;

-- Supabase's own definitions: the request's JWT claims, read from the settings PostgREST makes.
create or replace function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;
create or replace function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;
create or replace function auth.email() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant all on schema auth to supabase_auth_admin;

-- PostgREST reloads its schema cache after every DDL statement: an event trigger, as in Supabase,
-- so that DDL run by the project meets one.
create or replace function extensions.pgrst_ddl_watch() returns event_trigger
language plpgsql
as $$
begin
    perform pg_notify('pgrst', 'reload schema');
end
$$;
alter function extensions.pgrst_ddl_watch() owner to supabase_admin;
do $event_trigger$
begin
    if not exists (select from pg_event_trigger where evtname = 'pgrst_ddl_watch') then
        create event trigger pgrst_ddl_watch on ddl_command_end execute function extensions.pgrst_ddl_watch();
    end if;
end
$event_trigger$;
