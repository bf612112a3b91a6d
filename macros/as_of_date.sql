{#- The reference date for recency and tenure, as a SQL date expression.
    var as_of_date (YYYY-MM-DD) when set; otherwise the day after the last invoice date in the data.
    The var is parsed by date_var, so only a valid date ever reaches the SQL. -#}
{% macro as_of_date() %}
    {%- set raw = var('as_of_date', env_var('SEGMENTS_AS_OF_DATE', '')) | string | trim -%}
    {%- if raw in ('', 'None', 'none') -%}
        (select cast(max(invoiced_at) as date) + 1 from {{ ref('stg_retail__invoice_lines') }})
    {%- else -%}
        {{ date_var('as_of_date', raw) }}
    {%- endif -%}
{% endmacro %}
