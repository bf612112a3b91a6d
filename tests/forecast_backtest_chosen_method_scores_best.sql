-- The backtest's chosen method has the lowest mean purchases MAE among the methods evaluated at every
-- origin (the first key of the rule in customer_segments.prediction.backtest.choose_method), and there
-- is exactly one chosen method whenever there is an evaluation. Rows returned are failures.

with

evaluation as (

    select * from {{ ref('forecast_backtest_evaluation') }}

),

counts as (

    select
        max(origins_evaluated) as origins,
        count(distinct method) filter (where is_chosen_method) as chosen_methods,
        count(*) as evaluation_rows

    from evaluation

),

complete as (

    select
        evaluation.method,
        any_value(evaluation.mean_purchases_mae) as score,
        bool_or(evaluation.is_chosen_method) as is_chosen

    from evaluation
    inner join counts
        on evaluation.origins_evaluated = counts.origins
    group by evaluation.method

),

best as (

    select min(score) as best_score from complete

)

select
    'chosen method does not score best' as failure,
    complete.method,
    complete.score

from complete
cross join best
where complete.is_chosen and complete.score > best.best_score

union all

select
    'not exactly one chosen method' as failure,
    null as method,
    null as score

from counts
where counts.evaluation_rows > 0 and counts.chosen_methods != 1
