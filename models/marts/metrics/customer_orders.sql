-- One row per invoice (purchase or cancellation) of a customer in customer_rfm: its net value, the
-- customer's country and segment. Customers with cancellations only are left out, as in customer_rfm
-- (their cancellations matched nothing and are worth 0 net). The fact table behind the semantic layer's revenue, orders and customers metrics;
-- cancellations count in the month they happened, so months add up to each customer's net spend.

with

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

invoices as (

    select
        invoice_no,
        any_value(customer_id) as customer_id,
        any_value(invoice_type) as invoice_type,
        min(invoiced_at) as invoiced_at,
        sum(lines)::bigint as lines,
        sum(gross_value) as gross_value,
        sum(cancelled_value) as cancelled_value,
        sum(net_value) as net_value

    from customer_invoices
    group by invoice_no

),

described as (

    select
        ---------- ids
        invoices.invoice_no,
        invoices.customer_id,

        ---------- attributes
        invoices.invoice_type,
        customer_rfm.country as customer_country,
        customer_segments.segment_id,
        coalesce(customer_segments.segment_name, 'Unsegmented (no net spend)') as segment_name,

        ---------- timestamps
        invoices.invoiced_at,
        cast(date_trunc('month', invoices.invoiced_at) as date) as invoice_month,

        ---------- money
        invoices.lines,
        invoices.gross_value,
        invoices.cancelled_value,
        invoices.net_value

    from invoices
    inner join customer_rfm
        on invoices.customer_id = customer_rfm.customer_id
    left join customer_segments
        on invoices.customer_id = customer_segments.customer_id

)

select * from described
