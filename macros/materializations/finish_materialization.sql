{% macro finish_materialization(target_relation) %}
{#- The end the project's materializations share with dbt's own: the grants config, the relation's
    comment, the post-hooks inside the model's transaction, the commit, the post-hooks after it.
    Returns what a materialization returns. -#}
{% do apply_grants(target_relation, config.get('grants'), should_revoke=True) %}
{% do persist_docs(target_relation, model) %}
{{ run_hooks(post_hooks, inside_transaction=True) }}
{{ adapter.commit() }}
{{ run_hooks(post_hooks, inside_transaction=False) }}
{{ return({'relations': [target_relation]}) }}
{% endmacro %}
