-- One row per outcome: what became of every input line. The input lines add up to the file's lines
-- (for CSV: its rows after the header, loaded or rejected).

with

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

rejected_lines as (

    select * from {{ ref('base_retail__rejected_lines') }}

),

outcomes as (

    select * from (values
        ('purchase', true, 'Purchase line used for spend and frequency'),
        ('cancellation', true, 'Cancellation line netted against the customer''s earlier purchases'),
        ('duplicate_copy', false, 'Extra copy of a line that is the same once staging normalises it (trim, case, number format); one copy is kept'),
        ('rejected', false, 'Not valid CSV (fields missing or extra, unterminated quote, bad bytes): not loaded, see base_retail__rejected_lines'),
        ('unparseable', false, 'A required value is missing or cannot be parsed (see parse_error)'),
        ('implausible_date', false, 'Dated before var min_invoice_date, after var max_invoice_date, or not before var as_of_date when set (see status_reason)'),
        ('implausible_value', false, 'Quantity, unit price or quantity x unit price beyond var max_quantity, max_unit_price or max_line_value (see status_reason); not summed in line_value'),
        ('missing_customer', false, 'No customer id: cannot be attributed to a customer'),
        ('non_merchandise', false, 'Postage, fee, discount, manual, voucher or bad-debt code'),
        ('stock_adjustment', false, 'Negative quantity on an invoice that is not a cancellation'),
        ('invalid_price', false, 'Unit price zero or negative'),
        ('invalid_quantity', false, 'Zero quantity, or a positive quantity on a cancellation invoice')
    ) as outcome_list (outcome, is_kept, explanation)

),

-- Implausible values are left out of the sums: a few lines near the limits of BIGINT x DECIMAL(18,3)
-- would overflow any total, and a sum dominated by one absurd line says nothing.
counted as (

    select
        line_status as outcome,
        sum(1) as input_lines,
        sum(line_value) filter (where not is_implausible_value) as line_value

    from lines
    group by line_status

    union all

    select
        'duplicate_copy' as outcome,
        sum(duplicate_count) as input_lines,
        sum(duplicate_count * line_value) filter (where not is_implausible_value) as line_value

    from lines

    union all

    select
        'rejected' as outcome,
        count(*) as input_lines,
        cast(null as decimal(38, 3)) as line_value

    from rejected_lines

),

accounted as (

    select
        outcomes.outcome,
        outcomes.is_kept,
        outcomes.explanation,
        coalesce(counted.input_lines, 0)::bigint as input_lines,
        coalesce(counted.line_value, 0)::decimal(38, 3) as line_value

    from outcomes
    left join counted
        on outcomes.outcome = counted.outcome

)

select
    *,
    input_lines / sum(input_lines) over () as share_of_input_lines

from accounted
order by is_kept desc, input_lines desc
