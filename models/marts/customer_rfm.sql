-- One row per customer with at least one purchase invoice holding a merchandise line with a valid
-- price: recency, frequency and monetary features, classic RFM quintile scores and RFM segment.

with

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

segment_rules as (

    select * from {{ ref('rfm_segment_rules') }}

),

as_of as (

    select {{ as_of_date() }} as as_of_date

),

-- A customer's country is where most of their purchase invoices were sent; ties go alphabetically.
customer_countries as (

    select
        customer_id,
        country

    from customer_invoices
    where invoice_type = 'purchase'
    group by customer_id, country
    qualify row_number() over (
        partition by customer_id
        order by count(*) desc, country nulls last
    ) = 1

),

-- Invoices of one customer and several countries (a broken export) count once for frequency.
customer_totals as (

    select
        customer_id,
        min(invoiced_at) filter (where invoice_type = 'purchase') as first_purchase_at,
        max(last_line_at) filter (where invoice_type = 'purchase') as last_purchase_at,
        count(distinct invoice_no) filter (where invoice_type = 'purchase') as frequency,
        sum(gross_value) as gross_spend,
        sum(cancelled_value) as cancelled_value,
        sum(unmatched_value) as unmatched_cancellation_value,
        sum(net_value) as monetary

    from customer_invoices
    group by customer_id
    having count(*) filter (where invoice_type = 'purchase') > 0

),

features as (

    select
        ---------- ids
        customer_totals.customer_id,
        customer_countries.country,

        ---------- timestamps
        customer_totals.first_purchase_at,
        customer_totals.last_purchase_at,
        as_of.as_of_date,

        ---------- rfm features
        date_diff('day', cast(customer_totals.last_purchase_at as date), as_of.as_of_date) as recency_days,
        customer_totals.frequency,
        customer_totals.monetary,
        cast(customer_totals.monetary / customer_totals.frequency as decimal(18, 3)) as avg_order_value,
        date_diff('day', cast(customer_totals.first_purchase_at as date), as_of.as_of_date) as tenure_days,

        ---------- money
        customer_totals.gross_spend,
        customer_totals.cancelled_value,
        customer_totals.unmatched_cancellation_value

    from customer_totals
    cross join as_of
    left join customer_countries
        on customer_totals.customer_id = customer_countries.customer_id

),

scored as (

    select
        *,
        {{ rfm_scores() }}

    from features

),

-- The first rule (by priority) whose R and F score ranges hold the customer names their segment.
segmented as (

    {{ rfm_segment_of('scored', 'segment_rules', ['customer_id']) }}

)

select * from segmented
