-- Fails for every segment whose control group is not round(var campaign_control_share x its
-- customers) of campaign_groups, i.e. whose control share is off the var by more than half a customer.
select
    segment_id,
    count(*) as customers,
    count(*) filter (where campaign_group = 'control') as control_customers

from {{ ref('campaign_groups') }}
group by segment_id
having abs(count(*) filter (where campaign_group = 'control')
    - count(*) * {{ number_var('campaign_control_share', 0, 0.5) }}) > 0.5
