{#- Fails when the lines with the given outcomes make up more than `max_share` of all input lines
    (a line_accounting-shaped model: outcome, input_lines). -#}
{% test outcome_share_at_most(model, outcomes, max_share) %}

with

shares as (
    select
        coalesce(sum(input_lines) filter (where outcome in (
            {%- for outcome in outcomes %}{{ sql_string(outcome) }}{{ ", " if not loop.last }}{% endfor -%}
        )), 0) as flagged_lines,
        sum(input_lines) as input_lines
    from {{ model }}
)

select
    flagged_lines,
    input_lines,
    flagged_lines / input_lines as flagged_share,
    {{ bounded_number(max_share, 'var max_rejected_share', 0, 1) }} as max_share
from shares
where flagged_lines > {{ bounded_number(max_share, 'var max_rejected_share', 0, 1) }} * input_lines

{% endtest %}
