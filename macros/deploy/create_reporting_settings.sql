{% macro create_reporting_settings() %}
{#- The settings the reporting relations read, stored in the database so that an operator
    changes them without a deploy or a build (docs/bi.md): the price of a credit in USD,
    seeded from the dbt var credit_price_usd. Read through credit_price_usd() (a view with
    security_invoker cannot read analytics_internal); changed through set_credit_price_usd(),
    audited. -#}
{% set s = target.schema %}
{% set internal = internal_schema() %}
create table if not exists {{ internal }}.reporting_settings (
    only_row boolean primary key default true check (only_row),
    credit_price_usd numeric(12, 6) not null check (credit_price_usd >= 0),
    updated_at timestamptz not null default now()
);
comment on table {{ internal }}.reporting_settings is
'agent-analytics: settings of the reporting relations (docs/bi.md); one row';
revoke all on {{ internal }}.reporting_settings from public, anon, authenticated, service_role;
insert into {{ internal }}.reporting_settings (credit_price_usd) values ({{ checked_var('credit_price_usd') }})
on conflict (only_row) do nothing;

create or replace function {{ s }}.credit_price_usd()
returns numeric
language sql
stable
security definer
set search_path = {{ definer_search_path() }}
as $$
    select settings.credit_price_usd from {{ internal }}.reporting_settings as settings
$$;
revoke all on function {{ s }}.credit_price_usd() from public;

create or replace function {{ s }}.set_credit_price_usd(price numeric)
returns numeric
language plpgsql
volatile
security definer
set search_path = {{ definer_search_path() }}
as $$
begin
    if price is null or price < 0 or price > 1000 then
        raise exception 'set_credit_price_usd: the price of a credit must be from 0 to 1000 USD, not %',
            coalesce(price::text, 'NULL')
            using errcode = '22023';
    end if;
    perform {{ s }}.write_audit('set_credit_price_usd', null, pg_catalog.jsonb_build_object('price', price));
    update {{ internal }}.reporting_settings set credit_price_usd = price, updated_at = now();
    return price;
end
$$;
revoke all on function {{ s }}.set_credit_price_usd(numeric) from public
{% endmacro %}


{% macro stored_credit_price() -%}
{#- The price of a credit as the models read it: the one stored in the database (docs/bi.md), so
    that every money figure follows set_credit_price_usd(). A unit test overrides this with a
    number, so that its expected figures do not depend on the price a database holds. -#}
{{ target.schema }}.credit_price_usd()
{%- endmacro %}
