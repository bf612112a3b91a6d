{#- The column holds every key of `to`.`field` (optionally filtered by `where_clause` on `to`):
    the other half of `relationships`, so together they prove one row per eligible key. -#}
{% test covers_all_of(model, column_name, to, field, where_clause=none) %}

select parent.{{ field }} as missing_key
from {{ to }} as parent
where
    {%- if where_clause %} ({{ where_clause }}) and{% endif %}
    not exists (
        select 1 from {{ model }} as child
        where child.{{ column_name }} = parent.{{ field }}
    )

{% endtest %}
