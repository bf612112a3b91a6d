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

{#- The number var `name` as a number literal, after checking its text is a number (no sign, optional
    decimals and exponent: the pattern of customer_segments.settings) from min_value to max_value.
    The bounds are those the var is declared with in customer_segments.settings.VARS (a test checks
    every call against the table). whole=true accepts only digits and emits an integer. -#}
{% macro number_var(name, min_value, max_value, whole=false) -%}
    {{ bounded_number(var(name), 'var ' ~ name, min_value, max_value, whole) }}
{%- endmacro %}

{#- `value` re-emitted as a number literal, after the checks of number_var; `name` says which var or
    argument in the error. Checked when the SQL is built (execute): at parse time a test's arguments
    are not rendered yet. -#}
{% macro bounded_number(value, name, min_value, max_value, whole=false) -%}
    {%- set text = value | string | trim -%}
    {%- set pattern = '^[0-9]+$' if whole else '^[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$' -%}
    {%- if execute and (not modules.re.match(pattern, text) or (text | float) < min_value or (text | float) > max_value) -%}
        {{ exceptions.raise_compiler_error(name ~ " must be a " ~ ("whole number" if whole else "number") ~ " from " ~ min_value ~ " to " ~ max_value ~ ", got \"" ~ text ~ "\"") }}
    {%- endif -%}
    {{ (text | int) if whole else (text | float) }}
{%- endmacro %}

{#- Whether identical input lines are each a line of their own (var identical_lines: 'keep', for exports
    in which they are real repeat orders) rather than one line counted in source_line_count ('collapse',
    the default: export artefacts), as a SQL boolean. The var is compared in SQL as a quoted literal;
    any other value fails the query naming the var (build_settings refuses it first in a whole build). -#}
{% macro keep_identical_lines() -%}
    case lower(trim({{ sql_string(var('identical_lines', 'collapse')) }}))
        when 'keep' then true
        when 'collapse' then false
        else error('var identical_lines must be one of ''collapse'', ''keep''')
    end
{%- endmacro %}

{#- Stops the run on a var given on the command line that this project does not read (a misspelling, or a
    var an older release had): dbt itself accepts any name and would build as if it were not given. The
    vars the project reads are the keys of build_settings' config `settings` (one per var of
    customer_segments.settings.VARS; a test keeps the two the same). Run as the on-run-start hook. -#}
{% macro refuse_unknown_vars() -%}
    {%- if execute -%}
        {%- set declared = graph.nodes['model.shop_segments.build_settings'].config.settings.keys() | list -%}
        {%- for name in (invocation_args_dict.get('vars') or {}).keys() | sort -%}
            {%- if name not in declared -%}
                {{ exceptions.raise_compiler_error("unknown var " ~ name ~ ": this project reads no var of that name; check its spelling or remove it (the vars are listed in docs/input_contract.md#settings)") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
