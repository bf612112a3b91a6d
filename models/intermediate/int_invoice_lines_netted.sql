-- One row per purchase or cancellation line of a known customer and merchandise code, with what each
-- cancellation actually cancelled.
--
-- Netting rule: for one customer and stock code, a cancellation at time t cancels quantity of that
-- customer's purchases of that code made at or before t that earlier cancellations have not already
-- cancelled, up to the quantity available. The rest refunds a purchase from before the data window:
-- it is unmatched and does not reduce spend. Cancelled value = matched quantity x the cancellation's price.
--
-- With P_i the quantity purchased up to cancellation i and Q_i the quantity requested by cancellations
-- up to and including i, the cumulative matched quantity is M_i = min(M_(i-1) + q_i, P_i), which unrolls
-- to M_i = Q_i + min(0, min over j <= i of (P_j - Q_j)): two running windows, no recursion.

with

-- Read three times below: not materialized, or DuckDB would first copy (and at scale spill) every line.
lines as not materialized (

    select
        line_id,
        invoice_no,
        customer_id,
        stock_code,
        description,
        country,
        invoiced_at,
        quantity,
        unit_price,
        line_status

    from {{ ref('stg_retail__invoice_lines') }}
    where line_status in ('purchase', 'cancellation')

),

-- Only the customer's codes that were ever cancelled need running totals: the other purchase lines
-- (nearly all of them) skip the windows, which keeps the sort small at any scale.
cancelled_codes as (

    select distinct
        customer_id,
        stock_code

    from lines
    where line_status = 'cancellation'

),

-- Purchases and cancellations of one customer and code on one timeline. At the same minute purchases
-- come first: a cancellation may cancel a purchase made in the same minute.
timeline as (

    select
        lines.*,
        sum(case when line_status = 'purchase' then quantity else 0 end) over events as purchased_to_date,
        sum(case when line_status = 'cancellation' then -quantity else 0 end) over events as requested_to_date

    from lines
    semi join cancelled_codes
        on lines.customer_id = cancelled_codes.customer_id
        and lines.stock_code = cancelled_codes.stock_code
    window events as (
        partition by customer_id, stock_code
        order by invoiced_at, case when line_status = 'purchase' then 0 else 1 end, line_id
        rows between unbounded preceding and current row
    )

),

cancellations_cumulative as (

    select
        *,
        requested_to_date
            + least(0, min(purchased_to_date - requested_to_date) over cancellation_order) as matched_to_date

    from timeline
    where line_status = 'cancellation'
    window cancellation_order as (
        partition by customer_id, stock_code
        order by invoiced_at, line_id
        rows between unbounded preceding and current row
    )

),

cancellations_matched as (

    select
        line_id,
        -quantity as requested_quantity,
        matched_to_date - coalesce(
            lag(matched_to_date) over (partition by customer_id, stock_code order by invoiced_at, line_id),
            0
        ) as matched_quantity

    from cancellations_cumulative

),

netted as (

    select
        ---------- ids
        lines.line_id,
        lines.invoice_no,
        lines.customer_id,
        lines.stock_code,

        ---------- attributes
        lines.line_status as line_type,
        lines.description,
        lines.country,
        lines.invoiced_at,

        ---------- quantities
        lines.quantity,
        coalesce(matched.requested_quantity, 0) as requested_quantity,
        coalesce(matched.matched_quantity, 0) as matched_quantity,
        coalesce(matched.requested_quantity - matched.matched_quantity, 0) as unmatched_quantity,

        ---------- money (exact decimals)
        lines.unit_price,
        cast(case when lines.line_status = 'purchase' then lines.quantity * lines.unit_price else 0 end
            as decimal(18, 3)) as gross_value,
        cast(coalesce(matched.matched_quantity * lines.unit_price, 0) as decimal(18, 3)) as cancelled_value,
        cast(coalesce((matched.requested_quantity - matched.matched_quantity) * lines.unit_price, 0)
            as decimal(18, 3)) as unmatched_value

    from lines
    left join cancellations_matched as matched
        on lines.line_id = matched.line_id

)

select
    *,
    gross_value - cancelled_value as net_value

from netted
