-- One row: what this build read and with which settings, so that every build says what it read: the
-- input file, its size and lines, the data's dates, the column mapping, the vars set to other than their
-- defaults, the project version and when the build started (the publish output and the report open with
-- these facts, customer_segments.delivery.build_info).

with

build_input as (

    select * from {{ ref('build_input') }}

),

build_dates as (

    select * from {{ ref('build_dates') }}

),

input_lines as (

    select cast(sum(input_lines) as bigint) as input_lines from {{ ref('line_accounting') }}

),

-- Canonical text of each var whose value is not its default, by name (build_settings).
changed_vars as (

    select
        '{' || coalesce(
            string_agg(to_json(name) || ': ' || to_json(value), ', ' order by name) filter (where not is_default), ''
        ) || '}' as vars_not_default

    from {{ ref('build_settings') }}

)

select
    ---------- the input
    build_input.input_path,
    build_input.input_file_bytes,
    input_lines.input_lines,
    build_input.column_mapping,
    build_input.customer_id_kind,

    ---------- its dates
    build_dates.first_invoice_date,
    build_dates.last_invoice_date,
    build_dates.as_of_date,
    build_dates.as_of_date_is_derived,

    ---------- how it was built
    changed_vars.vars_not_default,
    build_input.project_version,
    -- dbt's run_started_at (UTC): differs between builds by design.
    {{ build_started_at() }} as build_started_at

from build_input
cross join build_dates
cross join input_lines
cross join changed_vars
