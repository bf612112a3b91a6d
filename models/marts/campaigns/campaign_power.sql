-- One row per K-means segment: how a campaign split by campaign_groups' rule (var
-- campaign_control_share held out per segment) can be measured. The baseline is the segment's last
-- var campaign_window_days before the as-of date: the share of its customers with a purchase invoice
-- then (the repeat-purchase rate a campaign would lift) and their mean net spend.
--
-- Two-sided test at alpha 0.05 with power 0.8 (z 1.959964 and 0.841621), normal approximation:
--   minimum detectable effect (rate, absolute) = (z_a + z_b) * sqrt(p (1 - p) (1/n_t + 1/n_c))
--   minimum detectable effect (spend)          = (z_a + z_b) * sd * sqrt(1/n_t + 1/n_c)
--   customers needed for a relative lift L     = (z_a + z_b)^2 p (1 - p) (1/s + 1/(1 - s)) / (p L)^2
-- with s the control share. NULL where the baseline gives nothing to detect (p = 0 or 1, or one arm empty).

{%- set share = number_var('campaign_control_share', 0, 0.5) %}
{%- set window_days = number_var('campaign_window_days', 1, 36500, whole=true) %}
{%- set target_lift = number_var('campaign_target_lift', 0, 10) %}
{%- set z_sum = 1.959964 + 0.841621 %}

with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

-- Each segmented customer's purchase invoices and net value in the window.
window_activity as (

    select
        customer_segments.segment_id,
        customer_segments.customer_id,
        count(customer_invoices.invoice_no) > 0 as purchased_in_window,
        coalesce(sum(customer_invoices.net_value), 0) as window_net_spend

    from customer_segments
    left join customer_invoices
        on customer_segments.customer_id = customer_invoices.customer_id
        and customer_invoices.invoice_type = 'purchase'
        and customer_invoices.invoiced_at >= {{ as_of_date() }}
            - to_days({{ window_days }})
        and customer_invoices.invoiced_at < {{ as_of_date() }}
    group by customer_segments.segment_id, customer_segments.customer_id

),

segment_baselines as (

    select
        segment_id,
        count(*) as customers,
        cast(round(count(*) * {{ share }}) as bigint) as control_customers,
        count(*) filter (where purchased_in_window) / count(*) as baseline_repeat_rate,
        -- From exact decimal sums, so the figures do not depend on the order rows are summed in.
        cast(sum(window_net_spend) as double) / count(*) as baseline_mean_spend,
        case
            when count(*) > 1
                then sqrt(greatest(0, (
                    cast(sum(window_net_spend * window_net_spend) as double)
                    - cast(sum(window_net_spend) as double) ^ 2 / count(*)
                ) / (count(*) - 1)))
            else 0
        end as baseline_spend_sd

    from window_activity
    group by segment_id

),

sized as (

    select
        ---------- ids
        segment_id,

        ---------- arms
        customers,
        customers - control_customers as treatment_customers,
        control_customers,

        ---------- baseline over the window
        {{ window_days }} as window_days,
        baseline_repeat_rate,
        baseline_mean_spend,
        baseline_spend_sd,

        ---------- what the split can detect
        case
            when control_customers > 0 and customers > control_customers
                and baseline_repeat_rate > 0 and baseline_repeat_rate < 1
                then {{ z_sum }} * sqrt(
                    baseline_repeat_rate * (1 - baseline_repeat_rate)
                    * (1 / (customers - control_customers) + 1 / control_customers)
                )
        end as min_detectable_rate_effect,
        case
            when control_customers > 0 and customers > control_customers and baseline_spend_sd > 0
                then {{ z_sum }} * baseline_spend_sd * sqrt(1 / (customers - control_customers) + 1 / control_customers)
        end as min_detectable_spend_effect,

        ---------- what a target lift needs
        cast({{ target_lift }} as double) as target_relative_lift,
        case
            when baseline_repeat_rate > 0 and baseline_repeat_rate < 1
                then ceil(
                    {{ z_sum }} ^ 2 * baseline_repeat_rate * (1 - baseline_repeat_rate)
                    * (1 / {{ share }} + 1 / (1 - {{ share }}))
                    / (baseline_repeat_rate * {{ target_lift }}) ^ 2
                )::bigint
        end as customers_needed_for_target_lift

    from segment_baselines

)

select
    *,
    customers >= customers_needed_for_target_lift as can_detect_target_lift

from sized
