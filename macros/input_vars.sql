{#- Vars that reach SQL go through these macros: each is checked, and text is emitted as a quoted
    literal with its quotes doubled, so no value can change the shape of a query. -#}

{#- A SQL string literal holding `value`. -#}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- The upper-cased cancellation marker (var cancellation_marker) as a SQL string literal. -#}
{% macro cancellation_marker() -%}
    {%- set marker = var('cancellation_marker', 'C') -%}
    {%- if marker is not string or (marker | trim | length) == 0 or (marker | length) > 10 -%}
        {{ exceptions.raise_compiler_error("var cancellation_marker must be 1 to 10 characters that start a cancellation's invoice number, got '" ~ marker ~ "'") }}
    {%- endif -%}
    {{ sql_string(marker | upper) }}
{%- endmacro %}

{#- `value` as a number literal, after checking it is a number between min_value and max_value;
    `name` says which var or argument in the error. -#}
{% macro bounded_number(value, name, min_value, max_value) -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$', text) or (text | float) < min_value or (text | float) > max_value -%}
        {{ exceptions.raise_compiler_error(name ~ " must be a number from " ~ min_value ~ " to " ~ max_value ~ ", got '" ~ text ~ "'") }}
    {%- endif -%}
    {{ text | float }}
{%- endmacro %}
