-- One row per classifier, evaluation, split, actual segment and predicted segment (zeros included):
-- how many customers of each segment were predicted as each segment.

with

predictions as (

    select * from {{ ref('first_purchase_segment_predictions') }}

),

segments as (

    select segment_id, segment_name from {{ ref('segment_profiles') }}

),

runs as (

    select distinct model_name, evaluation, split from predictions

),

counts as (

    select
        model_name,
        evaluation,
        split,
        actual_segment_id,
        predicted_segment_id,
        count(*) as customers

    from predictions
    group by all

),

grid as (

    select
        runs.model_name,
        runs.evaluation,
        runs.split,
        actual.segment_id as actual_segment_id,
        actual.segment_name as actual_segment_name,
        predicted.segment_id as predicted_segment_id,
        predicted.segment_name as predicted_segment_name,
        coalesce(counts.customers, 0) as customers

    from runs
    cross join segments as actual
    cross join segments as predicted
    left join counts
        on runs.model_name = counts.model_name
        and runs.evaluation = counts.evaluation
        and runs.split = counts.split
        and actual.segment_id = counts.actual_segment_id
        and predicted.segment_id = counts.predicted_segment_id

)

select
    *,
    -- Row-normalised: the share of the actual segment's customers predicted as this segment.
    customers / nullif(sum(customers) over (
        partition by model_name, evaluation, split, actual_segment_id
    ), 0) as share_of_actual_segment

from grid
order by evaluation, split, model_name, actual_segment_id, predicted_segment_id
