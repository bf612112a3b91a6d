-- One row per segment and build: each build's segment ids, names, sizes, how each id was kept or got
-- (id_source, centroid_shift), the build's start and its input. Incremental: every build of the working
-- file adds its rows and keeps the earlier builds', so a renamed or renumbered segment can be traced
-- (`publish` prints each name that changed under a kept id). `dbt build --full-refresh` starts it anew.

with

segment_profiles as (

    select * from {{ ref('segment_profiles') }}

),

build_info as (

    select * from {{ ref('build_info') }}

),

{% if is_incremental() %}

-- The rows of the build before this one: this build's rows are not in the table yet.
previous_build as (

    select * from {{ this }}
    where build_started_at = (select max(earlier.build_started_at) from {{ this }} as earlier)

),

{% endif %}

segments as (

    select
        ---------- the build: its key (this invocation's start, as build_info has it after a whole build; a
        ---------- selected build may leave build_info as an earlier build wrote it), then what it read
        {{ build_started_at() }} as build_started_at,
        build_info.input_path,
        build_info.input_lines,
        build_info.first_invoice_date,
        build_info.last_invoice_date,
        build_info.as_of_date,

        ---------- the segment
        segment_profiles.segment_id,
        segment_profiles.segment_name,
        segment_profiles.segment_label,
        segment_profiles.customers,
        segment_profiles.id_source,
        segment_profiles.centroid_shift

    from segment_profiles
    cross join build_info

)

select
    segments.*,
    -- The name this id had in the build before, when this build kept the id (NULL otherwise).
{% if is_incremental() %}
    previous_build.segment_name as previous_segment_name
{% else %}
    cast(null as varchar) as previous_segment_name
{% endif %}

from segments
{% if is_incremental() %}
left join previous_build
    on
        segments.segment_id = previous_build.segment_id
        and segments.id_source like 'kept%'
{% endif %}
order by segments.segment_id
