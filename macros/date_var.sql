{#- A date var (written YYYY-MM-DD) as a SQL date literal. The var is parsed here, so only a valid
    date ever reaches the SQL, and a bad value fails the build naming the var. -#}
{% macro date_var(name, raw=none) %}
    {%- set raw = (var(name) if raw is none else raw) | string | trim -%}
    {%- set parsed = none -%}
    {%- if modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', raw) -%}
        {%- set parsed = modules.datetime.datetime.strptime(raw, '%Y-%m-%d') -%}
    {%- endif -%}
    {%- if parsed is none -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date written YYYY-MM-DD, got \"" ~ raw ~ "\"") }}
    {%- endif -%}
    date '{{ parsed.strftime('%Y-%m-%d') }}'
{%- endmacro %}
