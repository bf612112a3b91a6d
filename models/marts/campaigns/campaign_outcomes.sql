-- One row per customer of campaign_groups once the campaign has started (var campaign_start_date; no
-- rows while it is empty): whether they bought, and their net spend, from the campaign's first day to
-- the as-of date. What campaign_evaluation compares between treatment and control.

{%- set start = var('campaign_start_date') | string | trim %}

with

campaign_groups as (

    select * from {{ ref('campaign_groups') }}

),

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

measured as (

    select
        ---------- ids
        campaign_groups.campaign,
        campaign_groups.customer_id,
        campaign_groups.segment_id,
        campaign_groups.campaign_group,

        ---------- outcome from the campaign's start to the as-of date
        count(customer_invoices.invoice_no) filter (
            where customer_invoices.invoice_type = 'purchase'
        ) > 0 as purchased,
        count(customer_invoices.invoice_no) filter (
            where customer_invoices.invoice_type = 'purchase'
        ) as purchase_invoices,
        coalesce(sum(customer_invoices.net_value), 0) as net_spend

    from campaign_groups
    left join customer_invoices
        on campaign_groups.customer_id = customer_invoices.customer_id
        {%- if start %}
        and customer_invoices.invoiced_at >= {{ date_var('campaign_start_date') }}
        {%- endif %}
        and customer_invoices.invoiced_at < {{ as_of_date() }}
    {%- if not start %}
    where false
    {%- endif %}
    group by all

)

select * from measured
