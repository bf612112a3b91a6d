{#- The column holds every key of `to`.`field` (optionally filtered by `where_clause` on `to`):
    the other half of `relationships`, so together they prove one row per eligible key. Written as an
    anti join of the two key columns: a correlated NOT EXISTS over a view made DuckDB copy every
    column of the view first (9 GB written for the 40 M netted lines at 100x the real data). -#}
{% test covers_all_of(model, column_name, to, field, where_clause=none) %}

with

parent_keys as (
    select {{ field }} as key
    from {{ to }}
    {%- if where_clause %} where {{ where_clause }}{% endif %}
),

child_keys as (
    select {{ column_name }} as key
    from {{ model }}
)

-- A NULL parent key matches nothing, so it is reported missing, as before.
select parent_keys.key as missing_key
from parent_keys
anti join child_keys
    on parent_keys.key = child_keys.key

{% endtest %}
