{#- The limits beyond which staging rejects a line as implausible (vars min_invoice_date,
    max_invoice_date, max_quantity, max_unit_price, max_line_value). Each is checked here before it
    reaches SQL: dates through date_var, numbers through number_var. -#}

{#- The last plausible invoice date as a SQL date literal: var max_invoice_date, or the day the build
    runs (UTC) when it is empty. -#}
{% macro max_invoice_date() -%}
    {%- set raw = var('max_invoice_date', '') | string | trim -%}
    {%- if raw in ('', 'None', 'none') -%}
        {%- set raw = run_started_at.strftime('%Y-%m-%d') -%}
    {%- endif -%}
    {{ date_var('max_invoice_date', raw) }}
{%- endmacro %}

{#- An upper bound of the values of a line, as a number literal, checked by number_var against the
    bounds declared in customer_segments.settings. The ceilings keep every plausible line value within
    DECIMAL(18,3) with room for sums, so the exact money downstream cannot overflow. -#}
{% macro value_limit(name) -%}
    {%- if name == 'max_quantity' -%}
        {{ number_var('max_quantity', 1, 1000000000000000, whole=true) }}
    {%- elif name == 'max_unit_price' -%}
        {{ number_var('max_unit_price', 0, 100000000000000) }}
    {%- elif name == 'max_line_value' -%}
        {{ number_var('max_line_value', 0, 100000000000000) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("value_limit: no limit named " ~ name) }}
    {%- endif -%}
{%- endmacro %}

{#- The limit as the text it was set to, for the reasons staging writes (quoted by sql_string, and only
    after value_limit has checked it is a number). -#}
{% macro value_limit_text(name) -%}
    {%- set checked = value_limit(name) -%}
    {{ sql_string(var(name) | string | trim) }}
{%- endmacro %}
