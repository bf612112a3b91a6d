{#- The model has as many rows as `compare_model` (filtered by `compare_where`). For a model that
    left-joins onto the lines of another, equal counts mean the join fanned nothing out: with the other
    side's key unique, the model's is too, at the cost of two counts instead of a 40 M-key aggregate. -#}
{% test row_count_matches(model, compare_model, compare_where=none) %}

with

model_rows as (
    select count(*) as row_count from {{ model }}
),

compare_rows as (
    select count(*) as row_count
    from {{ compare_model }}
    {%- if compare_where %} where {{ compare_where }}{% endif %}
)

select
    model_rows.row_count as model_row_count,
    compare_rows.row_count as compare_row_count
from model_rows
cross join compare_rows
where model_rows.row_count <> compare_rows.row_count

{% endtest %}
