{#- The reference date for recency and tenure, as a SQL date expression.
    var as_of_date (YYYY-MM-DD) when set; otherwise the day after the last invoice date in the data.
    The var is parsed here, so only a valid date ever reaches the SQL. -#}
{% macro as_of_date() %}
    {%- set raw = var('as_of_date', env_var('SEGMENTS_AS_OF_DATE', '')) | string | trim -%}
    {%- if raw in ('', 'None', 'none') -%}
        (select cast(max(invoiced_at) as date) + 1 from {{ ref('stg_retail__invoice_lines') }})
    {%- else -%}
        {%- set parsed = none -%}
        {%- if modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', raw) -%}
            {%- set parsed = modules.datetime.datetime.strptime(raw, '%Y-%m-%d') -%}
        {%- endif -%}
        {%- if parsed is none -%}
            {{ exceptions.raise_compiler_error("var as_of_date must be a date written YYYY-MM-DD, got '" ~ raw ~ "'") }}
        {%- endif -%}
        date '{{ parsed.strftime('%Y-%m-%d') }}'
    {%- endif -%}
{% endmacro %}
