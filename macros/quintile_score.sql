{#- A 1-5 score from the percent rank of an expression (5 = best).
    Ties share a score (unlike ntile, which splits equal values arbitrarily), so scores are deterministic. -#}
{% macro quintile_score(expression, higher_is_better=true) %}
    least(5, 1 + floor(5 * percent_rank() over (order by {{ expression }} {{ 'asc' if higher_is_better else 'desc' }})))::integer
{% endmacro %}
