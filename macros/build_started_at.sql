{#- When dbt started this invocation (its run_started_at, UTC, to the second) as a timestamp: the key of a
    build, the same in every model of the invocation (build_info, segment_id_history), and so different
    between two builds of the same input by design. -#}
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}
