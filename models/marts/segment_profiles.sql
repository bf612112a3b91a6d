-- One row per K-means segment: size, share of customers and net revenue, R/F/M summaries, centroid,
-- name, suggested marketing actions and how the segment kept or got its id. It reads the core tables
-- only, so a prediction model that fails or is not built leaves it (the forecast per segment is
-- segment_purchase_forecast).

with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

segment_customers as (

    -- Money from customer_rfm: exact decimals (the Python model's copies are floats).
    select
        customer_segments.segment_id,
        customer_segments.segment_name,
        customer_segments.segment_label,
        customer_segments.suggested_actions,
        customer_segments.id_source,
        customer_segments.centroid_shift,
        customer_segments.distance_to_centroid,
        customer_segments.z_recency_days,
        customer_segments.z_frequency,
        customer_segments.z_monetary,
        customer_rfm.recency_days,
        customer_rfm.frequency,
        customer_rfm.monetary,
        customer_rfm.avg_order_value

    from customer_segments
    inner join customer_rfm
        on customer_segments.customer_id = customer_rfm.customer_id

),

profiles as (

    select
        ---------- ids
        segment_id,
        any_value(segment_name) as segment_name,
        any_value(segment_label) as segment_label,
        any_value(suggested_actions) as suggested_actions,
        any_value(id_source) as id_source,
        any_value(centroid_shift) as centroid_shift,

        ---------- size
        count(*) as customers,
        sum(monetary) as net_revenue,

        ---------- recency
        avg(recency_days) as mean_recency_days,
        median(recency_days) as median_recency_days,

        ---------- frequency
        avg(frequency) as mean_frequency,
        median(frequency) as median_frequency,

        ---------- monetary
        avg(monetary) as mean_monetary,
        median(monetary) as median_monetary,
        avg(avg_order_value) as mean_avg_order_value,

        ---------- centroid in standardized log units
        avg(z_recency_days) as centroid_z_recency_days,
        avg(z_frequency) as centroid_z_frequency,
        avg(z_monetary) as centroid_z_monetary,
        avg(distance_to_centroid) as mean_distance_to_centroid

    from segment_customers
    group by segment_id

),

shares as (

    select
        *,
        customers / sum(customers) over () as share_of_customers,
        net_revenue / sum(net_revenue) over () as share_of_net_revenue

    from profiles

)

select
    segment_id,
    segment_name,
    segment_label,
    customers,
    share_of_customers,
    net_revenue,
    share_of_net_revenue,
    mean_recency_days,
    median_recency_days,
    mean_frequency,
    median_frequency,
    mean_monetary,
    median_monetary,
    mean_avg_order_value,
    centroid_z_recency_days,
    centroid_z_frequency,
    centroid_z_monetary,
    mean_distance_to_centroid,
    suggested_actions,
    id_source,
    centroid_shift

from shares
order by segment_id
