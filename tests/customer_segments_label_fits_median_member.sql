-- Fails for every segment whose segment_label is not what its median member says, computed here
-- from customer_rfm independently of the Python (customer_segments.segmentation.naming): for each
-- feature, the median over the segment's customers, its mid-rank percentile among all segmented
-- customers p = (below + equal / 2) / customers, low when p < 1/3, high when p > 2/3, else mid
-- (in whole numbers: 6 below + 3 equal against 2n and 4n). Recency reads low = recent.
-- Also fails for a segment whose rows carry more than one label.
with

segmented as (
    select
        customer_segments.segment_id,
        customer_segments.segment_label,
        customer_rfm.recency_days,
        customer_rfm.frequency,
        customer_rfm.monetary
    from {{ ref('customer_segments') }} as customer_segments
    inner join {{ ref('customer_rfm') }} as customer_rfm
        on customer_segments.customer_id = customer_rfm.customer_id
),

medians as (
    select
        segment_id,
        min(segment_label) as segment_label,
        count(distinct segment_label) as labels,
        median(recency_days) as median_recency_days,
        median(frequency) as median_frequency,
        median(monetary) as median_monetary
    from segmented
    group by segment_id
),

-- Six times the mid-rank count of all segmented customers at or below each median.
ranks as (
    select
        medians.segment_id,
        medians.segment_label,
        medians.labels,
        count(*) as customers,
        sum(case
            when segmented.recency_days < medians.median_recency_days then 6
            when segmented.recency_days = medians.median_recency_days then 3 else 0
        end) as recency_rank,
        sum(case
            when segmented.frequency < medians.median_frequency then 6
            when segmented.frequency = medians.median_frequency then 3 else 0
        end) as frequency_rank,
        sum(case
            when segmented.monetary < medians.median_monetary then 6
            when segmented.monetary = medians.median_monetary then 3 else 0
        end) as monetary_rank
    from medians
    cross join segmented
    group by medians.segment_id, medians.segment_label, medians.labels
),

expected as (
    select
        segment_id,
        segment_label,
        labels,
        case
            when recency_rank < 2 * customers then 'Recent'
            when recency_rank > 4 * customers then 'Lapsed' else 'Mid-recency'
        end
        || ' · '
        || case
            when frequency_rank < 2 * customers then 'one-off'
            when frequency_rank > 4 * customers then 'frequent' else 'occasional'
        end
        || ' · '
        || case
            when monetary_rank < 2 * customers then 'low value'
            when monetary_rank > 4 * customers then 'high value' else 'mid value'
        end as expected_label
    from ranks
)

select *
from expected
where segment_label != expected_label or labels > 1
