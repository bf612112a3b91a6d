{#- Reconciliation: sum(column) in the model equals sum(compare_expression) in compare_model, overall
    or per `group_by` key; a key missing on one side counts as a total of 0 there, so a key with a
    non-zero total on one side only is a mismatch. Exact for decimals; `tolerance` allows for floats. -#}
{% test totals_match(model, column_name, compare_model, compare_expression, group_by=none, compare_where=none, tolerance=0) %}

with

model_totals as (
    select
        {% if group_by %}{{ group_by }} as group_key,{% else %}1 as group_key,{% endif %}
        sum({{ column_name }}) as total
    from {{ model }}
    group by 1
),

compare_totals as (
    select
        {% if group_by %}{{ group_by }} as group_key,{% else %}1 as group_key,{% endif %}
        sum({{ compare_expression }}) as total
    from {{ compare_model }}
    {%- if compare_where %} where {{ compare_where }}{% endif %}
    group by 1
)

select
    coalesce(model_totals.group_key, compare_totals.group_key) as group_key,
    model_totals.total as model_total,
    compare_totals.total as compare_total
from model_totals
full outer join compare_totals
    on model_totals.group_key = compare_totals.group_key
where abs(coalesce(model_totals.total, 0) - coalesce(compare_totals.total, 0)) > {{ tolerance }}

{% endtest %}
