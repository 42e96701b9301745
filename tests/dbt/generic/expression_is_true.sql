{% test expression_is_true(model, expression) %}
{#- Rows where the expression is false; NULL (unknown) passes. -#}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
