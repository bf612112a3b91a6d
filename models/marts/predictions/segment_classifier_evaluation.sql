-- One row per classifier, evaluation, split and scope: overall accuracy, balanced accuracy and macro F1
-- (scope 'overall'), or one segment's precision, recall, F1 and support (scope 'segment'). Computed
-- from the predictions themselves, so every figure can be traced to customers.

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

-- Every segment of every run, so a segment never predicted still gets its row (recall 0).
per_segment as (

    select
        runs.model_name,
        runs.evaluation,
        runs.split,
        segments.segment_id,
        segments.segment_name,
        count(*) filter (where predictions.actual_segment_id = segments.segment_id) as support,
        count(*) filter (where predictions.predicted_segment_id = segments.segment_id) as predicted,
        count(*) filter (
            where predictions.actual_segment_id = segments.segment_id
            and predictions.predicted_segment_id = segments.segment_id
        ) as true_positives

    from runs
    cross join segments
    left join predictions
        on runs.model_name = predictions.model_name
        and runs.evaluation = predictions.evaluation
        and runs.split = predictions.split
    group by all

),

segment_metrics as (

    select
        *,
        -- Undefined precision (nothing predicted) is NULL here and counts as 0 in the macro averages.
        true_positives / nullif(predicted, 0) as precision,
        true_positives / nullif(support, 0) as recall,
        coalesce(2 * true_positives / nullif(support + predicted, 0), 0) as f1

    from per_segment

),

overall as (

    select
        model_name,
        evaluation,
        split,
        sum(support) as customers,
        sum(true_positives) / sum(support) as accuracy,
        -- Means over lists in segment order: a plain avg() of doubles adds them in whatever order the
        -- join delivered rows, which can change the last bit between two builds.
        -- Mean recall over the segments present in the split (scikit-learn's balanced_accuracy_score).
        list_avg(list(recall order by segment_id) filter (where support > 0)) as balanced_accuracy,
        list_avg(list(f1 order by segment_id) filter (where support > 0 or predicted > 0)) as macro_f1

    from segment_metrics
    group by model_name, evaluation, split

)

select
    model_name,
    evaluation,
    split,
    'overall' as metric_scope,
    null::bigint as segment_id,
    null::varchar as segment_name,
    customers,
    accuracy,
    balanced_accuracy,
    macro_f1,
    null::double as precision,
    null::double as recall,
    null::double as f1

from overall

union all

select
    model_name,
    evaluation,
    split,
    'segment' as metric_scope,
    segment_id,
    segment_name,
    support as customers,
    null as accuracy,
    null as balanced_accuracy,
    null as macro_f1,
    precision,
    recall,
    f1

from segment_metrics

order by evaluation, split, model_name, metric_scope, segment_id
