{#- A date var (written YYYY-MM-DD) as a SQL date literal. The var is parsed here, so only a valid
    date ever reaches the SQL, and a bad value fails the build naming the var. The day is checked
    against its month first: strptime's own error on 2011-02-30 would not name the var. -#}
{% macro date_var(name, raw=none) %}
    {%- set raw = (var(name) if raw is none else raw) | string | trim -%}
    {%- set parsed = none -%}
    {%- if modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', raw) -%}
        {%- set year, month, day = raw[0:4] | int, raw[5:7] | int, raw[8:10] | int -%}
        {%- set leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 -%}
        {%- set month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
        {%- if year >= 1 and month >= 1 and month <= 12 and day >= 1 and day <= month_days[month - 1] -%}
            {%- set parsed = modules.datetime.datetime.strptime(raw, '%Y-%m-%d') -%}
        {%- endif -%}
    {%- endif -%}
    {%- if parsed is none -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date written YYYY-MM-DD, got \"" ~ raw ~ "\"") }}
    {%- endif -%}
    date '{{ parsed.strftime('%Y-%m-%d') }}'
{%- endmacro %}
