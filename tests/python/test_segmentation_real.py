"""Segmentation acceptance on the real UCI Online Retail data (skipped when ../shared/data is absent)."""

import pytest

from customer_segments.segmentation.stability import STABLE_ARI

pytestmark = [pytest.mark.dbt, pytest.mark.real_data]


def test_real_k_is_chosen_by_the_rule_and_stable(real_build):
    k, reason, stability = real_build.query(
        "select k, selection_reason, bootstrap_mean_ari from segment_k_selection where is_chosen")[0]
    print(f"real data: k={k} ({reason}), bootstrap ARI {stability:.3f}")
    assert 3 <= k <= 8
    assert stability >= STABLE_ARI
    assert real_build.scalar("select count(*) from segment_profiles") == k


def test_real_big_spenders_do_not_get_a_segment_of_their_own(real_build):
    # Six customers spent GBP 100k+ (up to 278k): they must sit inside a sizeable segment.
    rows = real_build.query("""
        select customer_segments.segment_id, segment_profiles.share_of_customers
        from customer_segments
        inner join segment_profiles on customer_segments.segment_id = segment_profiles.segment_id
        where customer_segments.monetary >= 100000""")
    assert len(rows) >= 5
    assert min(share for _, share in rows) >= 0.05


def test_real_comparisons_are_complete(real_build):
    assert real_build.scalar("select count(*) from segment_algorithm_comparison") == 5
    assert real_build.scalar("select count(*) from segment_algorithm_comparison where ari_planted_groups is not null") == 0
    assert real_build.scalar("select count(*) from segment_feature_set_comparison") == 12
    assert real_build.scalar("select min(surrogate_tree_fidelity) from segment_feature_importance") > 0.8
