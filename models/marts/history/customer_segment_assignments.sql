-- One row per customer and build: each build's segment assignments, kept build after build in the file
-- dbt builds (an incremental table keyed by the invocation's start, macro build_started_at(), the build
-- key of build_info and of every build-keyed history table), so real history grows beside the backfill
-- of customer_segment_history.
-- publish copies the working file's tables whole, so the published file holds every build recorded so
-- far. A build that appends and then fails a test is recorded too (it is not published, but the next
-- published build carries its rows); `dbt build --full-refresh` starts the history again.
{{ config(materialized='incremental', incremental_strategy='append') }}

with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

build_info as (

    select * from {{ ref('build_info') }}

),

assignments as (

    select
        ---------- keys
        {{ build_started_at() }} as build_started_at,
        customer_segments.customer_id,

        ---------- the assignment
        customer_segments.segment_id,
        customer_segments.segment_name,

        ---------- the build (build_info as the last whole build wrote it, when this model is selected alone)
        build_info.as_of_date,
        build_info.input_path

    from customer_segments
    cross join build_info
    {%- if is_incremental() %}
        -- Two invocations started in the same second are one key: the first is kept.
        where {{ build_started_at() }} not in (select this_build.build_started_at from {{ this }} as this_build)
    {%- endif %}

)

select * from assignments
