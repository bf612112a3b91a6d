-- One row per invoice of a known customer (purchase or cancellation), summed from its netted lines.
-- Every customer-level model that counts invoices, visits or spend reads this instead of the lines:
-- about 18 times fewer rows (25,900 invoices against 397,000 lines on the real data).
--
-- The grain is invoice, customer and country, which is one row per invoice in any sane export; an
-- invoice whose lines disagree on customer or country gets one row per pair, so counting rows per
-- customer and country still counts distinct invoices exactly.

with

netted_lines as (

    select * from {{ ref('int_invoice_lines_netted') }}

),

invoices as (

    select
        ---------- ids
        invoice_no,
        customer_id,

        ---------- attributes
        country,
        any_value(line_type) as invoice_type,

        ---------- timestamps: an invoice's lines can straddle a minute; it happened when it started
        min(invoiced_at) as invoiced_at,
        max(invoiced_at) as last_line_at,

        ---------- counts
        count(*) as lines,
        sum(quantity)::bigint as units,

        ---------- money
        sum(gross_value) as gross_value,
        sum(cancelled_value) as cancelled_value,
        sum(unmatched_value) as unmatched_value,
        sum(net_value) as net_value

    from netted_lines
    group by invoice_no, customer_id, country

)

select * from invoices
