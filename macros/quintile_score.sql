{#- A 1-5 score from the percent rank of an expression (5 = best), ranked within `partition_by` when
    given (e.g. 'month_end': never across months).
    Ties share a score (unlike ntile, which splits equal values arbitrarily), so scores are deterministic. -#}
{% macro quintile_score(expression, higher_is_better=true, partition_by=none) %}
    least(5, 1 + floor(5 * percent_rank() over (
        {%- if partition_by %}partition by {{ partition_by }} {% endif -%}
        order by {{ expression }} {{ 'asc' if higher_is_better else 'desc' }})))::integer
{% endmacro %}
