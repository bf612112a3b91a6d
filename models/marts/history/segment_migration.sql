-- One row per month-end and move: how many customers went from one state at the previous month-end to
-- another at this one, that row's share of the from-state's customers, and the net spend of the month
-- of those customers. A state is customer_segment_history's (the customer's K-means segment at the
-- month-end under this build's model, so segments compare over time; 'inactive' after var
-- inactive_after_days without a purchase; 'no net spend'), or 'new' (from-state only: no purchase by the
-- previous month-end). Linear in customers x months: one lag over each customer's month-ends.

with

history as (

    select * from {{ ref('customer_segment_history') }}

),

states as (

    select
        customer_id,
        month_end,
        net_spend_in_month,
        state,
        -- The segment's id where the state is the segment.
        case when state = segment_name then segment_id end as state_segment_id

    from history

),

-- A customer's rows run over consecutive month-ends from the first with a purchase, so the row before is
-- the previous month-end.
moves as (

    select
        month_end,
        coalesce(lag(state) over customer_months, 'new') as from_state,
        lag(state_segment_id) over customer_months as from_segment_id,
        state as to_state,
        state_segment_id as to_segment_id,
        net_spend_in_month

    from states
    window customer_months as (partition by customer_id order by month_end)

),

migration as (

    select
        ---------- keys
        month_end,
        from_state,
        to_state,
        from_segment_id,
        to_segment_id,
        from_state = to_state as stayed,

        ---------- customers
        count(*) as customers,
        count(*) / sum(count(*)) over (partition by month_end, from_state) as share_of_from_state,

        ---------- money
        sum(net_spend_in_month) as net_revenue_in_month

    from moves
    group by month_end, from_state, to_state, from_segment_id, to_segment_id

)

select * from migration
