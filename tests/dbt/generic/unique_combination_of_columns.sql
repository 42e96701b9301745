{% test unique_combination_of_columns(model, combination_of_columns) %}
{#- NULLs count as one value, as UNIQUE NULLS NOT DISTINCT does. -#}
select
    {%- for column in combination_of_columns %}
    {{ column }},
    {%- endfor %}
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
