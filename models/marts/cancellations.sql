-- One row per cancellation line of a known customer and merchandise code: what it asked to cancel,
-- what it matched against earlier purchases, and what it could not match (refunds of purchases made
-- before the data window, which do not reduce spend).

with

netted_lines as (

    select * from {{ ref('int_invoice_lines_netted') }}

),

cancellations as (

    select
        ---------- ids
        line_id,
        invoice_no,
        customer_id,
        stock_code,

        ---------- attributes
        description,
        invoiced_at as cancelled_at,
        unit_price,

        ---------- quantities
        requested_quantity,
        matched_quantity,
        unmatched_quantity,

        ---------- money
        cast(requested_quantity * unit_price as decimal(18, 3)) as requested_value,
        cancelled_value as matched_value,
        unmatched_value

    from netted_lines
    where line_type = 'cancellation'

)

select * from cancellations
