"""Did the campaign work? Treatment against control, per segment and overall.

Two outcomes per customer, measured from the campaign's first day to the as-of date (model
campaign_outcomes): whether they bought (the repeat-purchase rate) and their net spend. For each the
lift is the treatment mean minus the control mean, with a 95 % confidence interval and a two-sided
p-value from the normal approximation: the two-proportion z-test with the unpooled standard error for
the rate (the same standard error as the interval), Welch's standard error for spend. Groups drawn by
campaign_groups are independent samples of each segment, so the comparison is a randomised one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Two-sided 95 % interval.
CONFIDENCE = 0.95
OUTCOMES = {"repeat_purchase_rate": "purchased", "net_spend_per_customer": "net_spend"}
COLUMNS = ["campaign", "scope", "segment_id", "outcome", "treatment_customers", "control_customers",
           "treatment_mean", "control_mean", "lift", "relative_lift", "ci_low", "ci_high", "p_value"]
TYPES = {"campaign": "string", "scope": "string", "segment_id": "Int64", "outcome": "string",
         "treatment_customers": "int64", "control_customers": "int64", **{c: "float64" for c in COLUMNS[6:]}}


def compare_groups(treatment: np.ndarray, control: np.ndarray) -> dict[str, float | None]:
    """Mean of each group, their difference, its 95 % interval and two-sided p-value (None where a
    group is empty or neither group varies)."""
    out: dict[str, float | None] = {"treatment_mean": None, "control_mean": None, "lift": None,
                                    "relative_lift": None, "ci_low": None, "ci_high": None, "p_value": None}
    if len(treatment) == 0 or len(control) == 0:
        return out
    t_mean, c_mean = float(treatment.mean()), float(control.mean())
    lift = t_mean - c_mean
    out |= {"treatment_mean": t_mean, "control_mean": c_mean, "lift": lift,
            "relative_lift": lift / c_mean if c_mean else None}
    t_var = float(treatment.var(ddof=1)) if len(treatment) > 1 else 0.0
    c_var = float(control.var(ddof=1)) if len(control) > 1 else 0.0
    se = math.sqrt(t_var / len(treatment) + c_var / len(control))
    if se == 0:
        return out
    z = norm.ppf(0.5 + CONFIDENCE / 2)
    out |= {"ci_low": lift - z * se, "ci_high": lift + z * se, "p_value": float(2 * norm.sf(abs(lift) / se))}
    return out


def campaign_evaluation(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The campaign_evaluation table from campaign_outcomes' rows (campaign, customer_id, segment_id,
    campaign_group, purchased, net_spend): one row per scope (each segment, and 'all') and outcome."""
    rows = []
    if outcomes.empty:
        return pd.DataFrame(columns=COLUMNS).astype(TYPES)
    outcomes = outcomes.sort_values("customer_id", kind="stable")
    scopes = [("all", None, outcomes)] + [("segment", int(s), g) for s, g in outcomes.groupby("segment_id", sort=True)]
    for scope, segment_id, group in scopes:
        is_treated = group["campaign_group"].eq("treatment").to_numpy()
        for outcome, column in OUTCOMES.items():
            values = group[column].astype("float64").to_numpy()
            rows.append({"campaign": group["campaign"].iloc[0], "scope": scope, "segment_id": segment_id,
                         "outcome": outcome, "treatment_customers": int(is_treated.sum()),
                         "control_customers": int((~is_treated).sum()),
                         **compare_groups(values[is_treated], values[~is_treated])})
    return pd.DataFrame(rows, columns=COLUMNS).astype(TYPES)
