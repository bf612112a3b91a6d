{#- The column's sum equals the number of rows of `of` (e.g. accounted lines = input lines), plus the
    rows of `plus` when given (e.g. lines rejected before loading). -#}
{% test sums_to_row_count(model, column_name, of, plus=none) %}

with

accounted as (
    select coalesce(sum({{ column_name }}), 0) as total from {{ model }}
),

expected as (
    select
        (select count(*) from {{ of }})
        {%- if plus %} + (select count(*) from {{ plus }}){% endif %} as total
)

select
    accounted.total as accounted_total,
    expected.total as expected_total
from accounted
cross join expected
where accounted.total <> expected.total

{% endtest %}
