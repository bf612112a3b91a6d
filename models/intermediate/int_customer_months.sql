-- One row per customer and month-end, from the first full month of the data to the last month ending
-- before the as-of date, for customers with a purchase by then: the RFM features as of that month-end
-- (only invoices started on or before it count), the classic RFM scores ranked within that month-end,
-- never across months, and the RFM segment (the rule of customer_rfm, macros rfm_scores and
-- rfm_segment_of). customer_segment_history adds each row's K-means segment.
--
-- A month-end's features are what customer_rfm would give with var as_of_date set to the day after it:
-- recency and tenure count days to that day, frequency the purchase invoices so far, monetary their net
-- value with the cancellations made so far (netting matches a cancellation only to earlier purchases,
-- so what a month-end sees never depends on later lines). Linear in customers x months: one pass of
-- window sums over each customer's months.

with

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

segment_rules as (

    select * from {{ ref('rfm_segment_rules') }}

),

-- The first full month: the month of the data's first day when it starts on the 1st, else the next.
-- The last: the last month whose final day is before the as-of date.
month_range as (

    select
        case
            when first_invoice_date = date_trunc('month', first_invoice_date) then date_trunc('month', first_invoice_date)
            else date_trunc('month', first_invoice_date) + interval 1 month
        end::date as first_full_month,
        date_trunc('month', first_invoice_date)::date as first_data_month,
        (date_trunc('month', {{ as_of_date() }}) - interval 1 month)::date as last_full_month

    from {{ ref('build_dates') }}

),

-- Invoices once each (an invoice of several countries counts once, as in customer_rfm's frequency),
-- dated by their start: a month-end sees an invoice begun on or before it.
invoices as (

    select
        customer_id,
        invoice_no,
        any_value(invoice_type) as invoice_type,
        min(invoiced_at) as invoiced_at,
        max(last_line_at) as last_line_at,
        sum(gross_value) as gross_value,
        sum(cancelled_value) as cancelled_value,
        sum(net_value) as net_value

    from customer_invoices
    group by customer_id, invoice_no

),

activity_months as (

    select
        customer_id,
        date_trunc('month', invoiced_at)::date as month_start,
        min(invoiced_at) filter (where invoice_type = 'purchase') as first_purchase_at,
        max(last_line_at) filter (where invoice_type = 'purchase') as last_purchase_at,
        count(*) filter (where invoice_type = 'purchase') as purchase_invoices,
        sum(gross_value) as gross_spend,
        sum(cancelled_value) as cancelled_value,
        sum(net_value) as net_value

    from invoices
    group by customer_id, date_trunc('month', invoiced_at)

),

-- The months of the data up to the last full month, and each customer's first month with an invoice.
months as (

    select cast(unnest(generate_series(first_data_month, last_full_month, interval 1 month)) as date) as month_start
    from month_range

),

customer_first_months as (

    select
        customer_id,
        min(month_start) as first_month

    from activity_months
    group by customer_id

),

-- Every month from a customer's first invoice to the last full month (months before the first full
-- one included: their invoices count towards the first month-end).
customer_month_grid as (

    select
        customer_first_months.customer_id,
        months.month_start

    from customer_first_months
    inner join months
        on customer_first_months.first_month <= months.month_start

),

running as (

    select
        customer_month_grid.customer_id,
        customer_month_grid.month_start,
        last_day(customer_month_grid.month_start) as month_end,
        min(activity_months.first_purchase_at) over customer_so_far as first_purchase_at,
        max(activity_months.last_purchase_at) over customer_so_far as last_purchase_at,
        coalesce(sum(activity_months.purchase_invoices) over customer_so_far, 0)::bigint as frequency,
        coalesce(sum(activity_months.gross_spend) over customer_so_far, 0) as gross_spend,
        coalesce(sum(activity_months.cancelled_value) over customer_so_far, 0) as cancelled_value,
        coalesce(sum(activity_months.net_value) over customer_so_far, 0) as monetary,
        coalesce(activity_months.purchase_invoices, 0)::bigint as purchase_invoices_in_month,
        coalesce(activity_months.net_value, 0) as net_spend_in_month

    from customer_month_grid
    left join activity_months
        on customer_month_grid.customer_id = activity_months.customer_id
        and customer_month_grid.month_start = activity_months.month_start
    window customer_so_far as (
        partition by customer_month_grid.customer_id
        order by customer_month_grid.month_start
        rows between unbounded preceding and current row
    )

),

features as (

    select
        ---------- ids
        running.customer_id,
        running.month_end,

        ---------- timestamps
        running.first_purchase_at,
        running.last_purchase_at,

        ---------- rfm features as of the day after the month-end
        date_diff('day', cast(running.last_purchase_at as date), running.month_end + 1) as recency_days,
        running.frequency,
        running.monetary,
        cast(running.monetary / running.frequency as decimal(18, 3)) as avg_order_value,
        date_diff('day', cast(running.first_purchase_at as date), running.month_end + 1) as tenure_days,

        ---------- money
        running.gross_spend,
        running.cancelled_value,

        ---------- the month itself
        running.purchase_invoices_in_month,
        running.net_spend_in_month

    from running
    cross join month_range
    where
        running.month_start >= month_range.first_full_month
        and running.frequency > 0

),

scored as (

    select
        *,
        {{ rfm_scores(partition_by='month_end') }}

    from features

),

segmented as (

    {{ rfm_segment_of('scored', 'segment_rules', ['customer_id', 'month_end']) }}

)

select * from segmented
