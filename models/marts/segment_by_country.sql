-- One row per customer country and K-means segment: how the segment mix of each country's customers
-- compares with the whole base ("do customers abroad behave differently?").

with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

segmented_customers as (

    select
        customer_segments.customer_id,
        customer_segments.segment_id,
        customer_segments.segment_name,
        customer_rfm.country,
        customer_rfm.monetary

    from customer_segments
    inner join customer_rfm
        on customer_segments.customer_id = customer_rfm.customer_id

),

segments as (

    select
        segment_id,
        any_value(segment_name) as segment_name,
        count(*) as segment_customers

    from segmented_customers
    group by segment_id

),

countries as (

    select
        country,
        count(*) as country_customers,
        sum(monetary) as country_net_revenue

    from segmented_customers
    group by country

),

-- The home market is where most customers live; everything else is abroad.
home_country as (

    select country from countries
    order by country_customers desc, country
    limit 1

),

counts as (

    select
        country,
        segment_id,
        count(*) as customers,
        sum(monetary) as net_revenue

    from segmented_customers
    group by country, segment_id

),

-- Every segment in every country, zeros included, so each country's mix adds up to 1.
grid as (

    select
        countries.country,
        countries.country_customers,
        countries.country_net_revenue,
        segments.segment_id,
        segments.segment_name,
        segments.segment_customers,
        coalesce(counts.customers, 0) as customers,
        coalesce(counts.net_revenue, 0) as net_revenue

    from countries
    cross join segments
    left join counts
        on countries.country = counts.country
        and segments.segment_id = counts.segment_id

)

select
    ---------- ids
    grid.country,
    grid.country = home_country.country as is_home_country,
    grid.segment_id,
    grid.segment_name,

    ---------- counts
    grid.customers,
    grid.country_customers,
    grid.net_revenue,

    ---------- mix
    grid.customers / grid.country_customers as share_of_country_customers,
    grid.segment_customers / sum(grid.customers) over () as share_of_all_customers,
    (grid.customers / grid.country_customers)
        / (grid.segment_customers / sum(grid.customers) over ()) as lift_vs_all_customers

from grid
cross join home_country
order by grid.country_customers desc, grid.country, grid.segment_id
