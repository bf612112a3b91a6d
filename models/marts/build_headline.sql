-- One row: the headline figures of the build (input lines, customers, money, orders, period, segments),
-- the one place the summary (`python -m customer_segments.delivery.summary`) and the report read them.

with

line_accounting as (

    select * from {{ ref('line_accounting') }}

),

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

cancellations as (

    select * from {{ ref('cancellations') }}

),

segment_profiles as (

    select * from {{ ref('segment_profiles') }}

),

input_lines as (

    select
        sum(input_lines) as input_lines,
        sum(input_lines) filter (where is_kept) as kept_input_lines

    from line_accounting

),

customers as (

    -- Money from customer_rfm: exact decimals.
    select
        count(*) as customers,
        sum(gross_spend) as gross_spend,
        sum(cancelled_value) as cancelled_value,
        sum(monetary) as net_revenue,
        sum(frequency) as orders,
        sum(monetary) / sum(frequency) as average_order_value,
        count(distinct country) as countries,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at,
        any_value(as_of_date) as as_of_date

    from customer_rfm

),

-- Refunds of purchases from before the data window: they reduce no one's spend, so they are shown apart.
unmatched_cancellations as (

    select sum(unmatched_value) as unmatched_cancellation_value

    from cancellations

),

segments as (

    select
        count(*) as segments,
        sum(customers) as segmented_customers

    from segment_profiles

)

select
    ---------- input lines
    input_lines.input_lines,
    input_lines.kept_input_lines,
    input_lines.kept_input_lines / input_lines.input_lines as share_of_input_lines_kept,

    ---------- customers and money
    customers.customers,
    customers.gross_spend,
    customers.cancelled_value,
    customers.net_revenue,
    unmatched_cancellations.unmatched_cancellation_value,
    customers.orders,
    customers.average_order_value,
    customers.countries,

    ---------- period
    customers.first_purchase_at,
    customers.last_purchase_at,
    customers.as_of_date,

    ---------- segments
    segments.segments,
    segments.segmented_customers

from input_lines
cross join customers
cross join unmatched_cancellations
cross join segments
