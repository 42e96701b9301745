-- Stand-ins for what every Supabase project already has: the API roles and auth.uid().
-- Each object is created only where absent, so this is safe on a database that has them.
do $$
declare
    role_name text;
begin
    foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
        if not exists (select from pg_roles where rolname = role_name) then
            begin
                execute format('create role %I nologin noinherit', role_name);
            exception when duplicate_object then
                null;  -- another session created it first
            end;
        end if;
    end loop;
    if not (select rolbypassrls from pg_roles where rolname = 'service_role') then
        alter role service_role bypassrls;
    end if;
end
$$;

create schema if not exists auth;

do $$
begin
    if to_regprocedure('auth.uid()') is null then
        -- Supabase's own definition: the `sub` claim of the request's JWT.
        create function auth.uid() returns uuid
        language sql stable
        as $body$
            select coalesce(
                nullif(current_setting('request.jwt.claim.sub', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
            )::uuid
        $body$;
    end if;
    if to_regprocedure('auth.jwt()') is null then
        create function auth.jwt() returns jsonb
        language sql stable
        as $body$
            select coalesce(
                nullif(current_setting('request.jwt.claim', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')
            )::jsonb
        $body$;
    end if;
end
$$;

grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.uid(), auth.jwt() to anon, authenticated, service_role;
