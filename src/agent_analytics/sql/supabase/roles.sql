-- The roles of a Supabase database (../shared/spec/supabase-environment.md), for a cluster whose
-- bootstrap superuser is supabase_admin. Run once per cluster, as supabase_admin. Each role is
-- created only where absent (an existing role is left as it is), so a second run changes nothing.
do $roles$
declare
    spec record;
begin
    for spec in
        select * from (values
            ('postgres', 'nosuperuser login createrole createdb bypassrls inherit'),
            ('authenticator', 'nosuperuser login noinherit'),
            ('anon', 'nologin noinherit'),
            ('authenticated', 'nologin noinherit'),
            ('service_role', 'nologin noinherit bypassrls'),
            ('supabase_auth_admin', 'nosuperuser login noinherit createrole'),
            ('supabase_storage_admin', 'nosuperuser login noinherit createrole'),
            ('supabase_replication_admin', 'nosuperuser login replication'),
            ('supabase_read_only_user', 'nosuperuser login bypassrls'),
            ('dashboard_user', 'nosuperuser nologin createrole createdb replication')
        ) as r (name, attributes)
    loop
        if to_regrole(spec.name) is null then
            execute format('create role %I %s', spec.name, spec.attributes);
        end if;
    end loop;
end
$roles$;

-- postgres acts as the API roles and reads everything (without bypassing RLS through that).
grant anon, authenticated, service_role to postgres;
grant pg_read_all_data, pg_monitor, pg_signal_backend to postgres;
grant anon, authenticated, service_role to authenticator;
grant pg_read_all_data to supabase_read_only_user;

alter role postgres set search_path = "$user", public, extensions;
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role supabase_auth_admin set search_path = auth;
alter role supabase_auth_admin set idle_in_transaction_session_timeout = 60000;
