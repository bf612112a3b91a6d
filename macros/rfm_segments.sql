{#- The classic RFM rule, one home for every model that scores customers (customer_rfm, as of the build;
    int_customer_months, as of each month-end): R, F and M quintile scores (5 best, ties share a score),
    ranked within `partition_by` when given, never across its groups. -#}
{% macro rfm_scores(partition_by=none) %}
    {{ quintile_score('recency_days', higher_is_better=false, partition_by=partition_by) }} as r_score,
    {{ quintile_score('frequency', partition_by=partition_by) }} as f_score,
    {{ quintile_score('monetary', partition_by=partition_by) }} as m_score
{%- endmacro %}

{#- The rest of the rule, as the body of a CTE over `scored` (rows with r_score, f_score and m_score,
    one per `key`): rfm_cell and the segment of the first rule (by priority) of seed rfm_segment_rules
    whose R and F score ranges hold the row, read from the CTE `segment_rules`. -#}
{% macro rfm_segment_of(scored, segment_rules, key) %}
    select
        {{ scored }}.*,
        {{ scored }}.r_score::varchar || {{ scored }}.f_score::varchar || {{ scored }}.m_score::varchar as rfm_cell,
        {{ segment_rules }}.rfm_segment

    from {{ scored }}
    left join {{ segment_rules }}
        on {{ scored }}.r_score between {{ segment_rules }}.r_score_min and {{ segment_rules }}.r_score_max
        and {{ scored }}.f_score between {{ segment_rules }}.f_score_min and {{ segment_rules }}.f_score_max
    qualify row_number() over (
        partition by {% for column in key %}{{ scored }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
        order by {{ segment_rules }}.priority
    ) = 1
{%- endmacro %}
