{#- var as_of_date (YYYY-MM-DD; default env SEGMENTS_AS_OF_DATE) as a SQL date literal, or nothing when
    unset. The var is parsed by date_var, so only a valid date ever reaches the SQL. -#}
{% macro as_of_date_setting() %}
    {%- set raw = var('as_of_date', env_var('SEGMENTS_AS_OF_DATE', '')) | string | trim -%}
    {%- if raw not in ('', 'None', 'none') -%}
        {{ date_var('as_of_date', raw) }}
    {%- endif -%}
{% endmacro %}

{#- The reference date for recency and tenure, as a SQL date expression: var as_of_date when set;
    otherwise the day after the last invoice date of the lines read right and plausible: an unparseable
    or implausible line (dated 2099, a quantity of 1e12) moves no one's recency. A line without a
    customer, or of postage, is a real sale of that day and counts. -#}
{% macro as_of_date() %}
    {%- set setting = as_of_date_setting() | trim -%}
    {%- if setting -%}
        {{ setting }}
    {%- else -%}
        (select cast(max(invoiced_at) as date) + 1 from {{ ref('stg_retail__invoice_lines') }} where line_status not in ('unparseable', 'implausible_date', 'implausible_value'))
    {%- endif -%}
{% endmacro %}
