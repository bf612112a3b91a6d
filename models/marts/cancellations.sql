-- One row per cancellation line of a known customer and merchandise code: what it asked to cancel,
-- what it matched against earlier purchases, and what it could not match (refunds of purchases made
-- before the data window, which do not reduce spend).

with

cancellation_lines as (

    select * from {{ ref('int_cancellation_lines_matched') }}

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
        cancelled_value,
        unmatched_value

    from cancellation_lines

)

select * from cancellations
