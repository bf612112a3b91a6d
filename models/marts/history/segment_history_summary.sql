-- One row per month-end and state (a K-means segment, inactive or no net spend; segment_migration's
-- states): its customers, their net spend in the month, and the share of the previous month-end's
-- customers in the state that are still in it (the stay rate). Read from segment_migration: customers
-- in a state at a month-end are its to-state rows, at the previous one its from-state rows.

with

migration as (

    select * from {{ ref('segment_migration') }}

),

arrivals as (

    select
        month_end,
        to_state as state,
        any_value(to_segment_id) as segment_id,
        sum(customers) as customers,
        sum(customers) filter (where stayed) as stayed_customers,
        sum(net_revenue_in_month) as net_revenue_in_month

    from migration
    group by month_end, to_state

),

departures as (

    select
        month_end,
        from_state as state,
        any_value(from_segment_id) as segment_id,
        sum(customers) as previous_customers

    from migration
    where from_state != 'new'
    group by month_end, from_state

),

-- A state every customer left this month still gets its row (customers 0, stay share 0).
summary as (

    select
        ---------- keys
        coalesce(arrivals.month_end, departures.month_end) as month_end,
        coalesce(arrivals.state, departures.state) as state,
        coalesce(arrivals.segment_id, departures.segment_id) as segment_id,

        ---------- customers
        coalesce(arrivals.customers, 0)::bigint as customers,
        coalesce(arrivals.customers, 0) / sum(coalesce(arrivals.customers, 0)) over (
            partition by coalesce(arrivals.month_end, departures.month_end)
        ) as share_of_customers,
        coalesce(departures.previous_customers, 0)::bigint as previous_customers,
        coalesce(arrivals.stayed_customers, 0)::bigint as stayed_customers,
        coalesce(arrivals.stayed_customers, 0) / departures.previous_customers as stay_share,

        ---------- money
        coalesce(arrivals.net_revenue_in_month, 0) as net_revenue_in_month

    from arrivals
    full outer join departures
        on arrivals.month_end = departures.month_end
        and arrivals.state = departures.state

)

select * from summary
