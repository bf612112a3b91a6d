{#- The column's sum equals the number of rows of `of` (e.g. accounted lines = input lines). -#}
{% test sums_to_row_count(model, column_name, of) %}

with

accounted as (
    select coalesce(sum({{ column_name }}), 0) as total from {{ model }}
),

expected as (
    select count(*) as total from {{ of }}
)

select
    accounted.total as accounted_total,
    expected.total as expected_total
from accounted
cross join expected
where accounted.total <> expected.total

{% endtest %}
