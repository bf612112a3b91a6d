"""The campaign lift statistics against scipy's tests and planted effects (no dbt)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from customer_segments.campaigns.evaluation import campaign_evaluation, compare_groups


def test_spend_lift_matches_welch_normal_interval_and_p_value():
    rng = np.random.default_rng(1)
    treatment, control = rng.normal(110, 30, 400), rng.normal(100, 20, 300)
    result = compare_groups(treatment, control)
    se = np.sqrt(treatment.var(ddof=1) / 400 + control.var(ddof=1) / 300)
    assert result["lift"] == pytest.approx(treatment.mean() - control.mean())
    assert result["ci_low"] == pytest.approx(result["lift"] - 1.959964 * se, rel=1e-6)
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(abs(result["lift"]) / se))
    # Welch's t-test agrees on the verdict (its t tails are a little heavier than the normal's).
    welch = stats.ttest_ind(treatment, control, equal_var=False).pvalue
    assert result["p_value"] < welch < 1e-3


def test_a_planted_lift_is_found_and_no_lift_is_not():
    rng = np.random.default_rng(7)
    n = 4000
    frame = pd.DataFrame({"campaign": "c", "customer_id": range(n), "segment_id": np.repeat([1, 2], n // 2),
                          "campaign_group": np.where(rng.random(n) < 0.1, "control", "treatment")})
    base = rng.random(n)
    # Segment 1: treatment buys at 40 %, control at 25 %; segment 2: both at 30 %.
    rate = np.where((frame.segment_id == 1) & (frame.campaign_group == "treatment"), 0.40,
                    np.where(frame.segment_id == 1, 0.25, 0.30))
    frame["purchased"] = base < rate
    frame["net_spend"] = frame["purchased"] * 50.0
    table = campaign_evaluation(frame).set_index(["scope", "segment_id", "outcome"])
    planted = table.loc[("segment", 1, "repeat_purchase_rate")]
    assert planted.p_value < 1e-4 and planted.ci_low < 0.15 < planted.ci_high
    null = table.loc[("segment", 2, "repeat_purchase_rate")]
    assert null.p_value > 0.01 and null.ci_low < 0 < null.ci_high
    assert table.loc[("all", pd.NA, "repeat_purchase_rate")].treatment_customers + table.loc[
        ("all", pd.NA, "repeat_purchase_rate")].control_customers == n


def test_empty_or_constant_groups_give_no_interval():
    assert compare_groups(np.array([1.0, 1.0]), np.array([]))["lift"] is None
    constant = compare_groups(np.array([0.0, 0.0]), np.array([0.0]))
    assert constant["lift"] == 0 and constant["p_value"] is None
    assert len(campaign_evaluation(pd.DataFrame(columns=["campaign", "customer_id", "segment_id", "campaign_group",
                                                          "purchased", "net_spend"]))) == 0
