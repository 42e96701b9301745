"""Analytics for a Supabase agent platform: a dbt project plus the tools that run it."""
