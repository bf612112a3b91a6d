{#- An optional date var as a SQL date literal, or nothing when unset (`raw`: its value, default var(name)).
    The var is parsed by date_var, so only a valid date ever reaches the SQL. -#}
{% macro date_setting(name, raw=none) %}
    {%- set raw = (var(name, '') if raw is none else raw) | string | trim -%}
    {%- if raw not in ('', 'None', 'none', 'null') -%}
        {{ date_var(name, raw) }}
    {%- endif -%}
{% endmacro %}

{#- var as_of_date (YYYY-MM-DD; default env SEGMENTS_AS_OF_DATE) as a SQL date literal, or nothing when
    unset. -#}
{% macro as_of_date_setting() %}
    {{- date_setting('as_of_date', var('as_of_date', env_var('SEGMENTS_AS_OF_DATE', ''))) -}}
{% endmacro %}

{#- One of the dates of the build (a column of model build_dates: as_of_date, classifier_cutoff_date,
    new_customer_horizon_days, ...) as a SQL expression. build_dates is the one home of the rules
    that derive them from the data when their vars are unset. -#}
{% macro build_date(column) %}
    (select {{ column }} from {{ ref('build_dates') }})
{%- endmacro %}

{#- The reference date for recency and tenure: var as_of_date when set, otherwise the day after the last
    invoice date of the lines read right and plausible (model build_dates). -#}
{% macro as_of_date() %}
    {#- A var that is set is the date itself, so that a model built alone with it sees it too (build_dates,
        which holds the same value, may be from an earlier build). -#}
    {%- set given = as_of_date_setting() | trim -%}
    {%- if given -%}
        {{ given }}
    {%- else -%}
        {{ build_date('as_of_date') }}
    {%- endif -%}
{% endmacro %}

{#- The first of the month of date `point`, or `point` itself when that month starts on or before date
    `first_day` (a window inside one month): build_dates' split rule, so the date stays inside the data. -#}
{% macro month_start_inside(point, first_day) %}
    case
        when cast(date_trunc('month', {{ point }}) as date) > {{ first_day }}
            then cast(date_trunc('month', {{ point }}) as date)
        else {{ point }}
    end
{%- endmacro %}
