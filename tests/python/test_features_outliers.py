"""Feature transforms and the outlier treatment: a handful of huge spenders never get a segment of their own."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans

from customer_segments.segmentation.clustering import fit_kmeans_segments
from customer_segments.segmentation.features import CLIP_Z, FEATURE_SETS, FeatureTransform
from segmentation_data import planted_customers


def with_whales(n_whales: int = 4) -> pd.DataFrame:
    """Planted customers plus a few wholesale-sized buyers (GBP 100k-280k, like the real data's top six)."""
    customers = planted_customers()
    whales = pd.DataFrame({
        "customer_id": np.arange(90000, 90000 + n_whales),
        "recency_days": np.linspace(1, 20, n_whales),
        "frequency": np.linspace(40, 200, n_whales),
        "monetary": np.linspace(100_000, 280_000, n_whales),
        "tenure_days": 370.0,
    })
    whales["avg_order_value"] = whales["monetary"] / whales["frequency"]
    return pd.concat([customers, whales], ignore_index=True)


def test_standardized_values_are_clipped():
    X = FeatureTransform().fit_transform(with_whales())
    assert X.max() <= CLIP_Z and X.min() >= -CLIP_Z
    unclipped = FeatureTransform(transform="raw", clip_z=None).fit_transform(with_whales())
    assert unclipped.max() > 3 * CLIP_Z  # raw spend puts the whales far out


def test_without_the_treatment_whales_take_a_segment_of_their_own():
    customers = with_whales()
    X = FeatureTransform(transform="raw", clip_z=None).fit_transform(customers)
    labels = KMeans(n_clusters=4, n_init=10, random_state=42).fit_predict(X)
    whales = (customers["monetary"] >= 100_000).to_numpy()
    # One of the four segments is spent on the whales alone, so two planted groups must share one.
    whale_only = [s for s in set(labels[whales]) if whales[labels == s].all()]
    assert whale_only and all((labels == s).sum() <= 4 for s in whale_only)


def test_with_log_and_clipping_whales_join_the_best_customers():
    customers = with_whales()
    fit = fit_kmeans_segments(customers, n_segments=4)
    segments = customers.merge(fit.assignments, on="customer_id")
    whale_segments = set(segments.loc[segments["monetary"] >= 100_000, "segment_id"])
    assert len(whale_segments) == 1
    members = segments[segments["segment_id"] == whale_segments.pop()]
    assert len(members) >= 80  # the whole planted top group
    assert (members["planted_group"] == "group_0").sum() == 80


def test_rank_transform_keeps_order_and_ranks_new_rows_against_the_fitted_ones():
    customers = planted_customers(per_group=20)
    transform = FeatureTransform(transform="rank", clip_z=None).fit(customers)
    X = transform.transform_frame(customers)
    order = np.argsort(customers["monetary"].to_numpy())
    assert np.all(np.diff(X[order, 2]) > 0)
    # Beyond the fitted range only the rank counts: 1000x the top spend scores like 1.01x.
    top = customers["monetary"].max()
    scores = transform.transform_frame(customers.head(2).assign(monetary=[top * 1.01, top * 1000]))[:, 2]
    assert scores[0] == pytest.approx(scores[1])


def test_feature_sets_name_customer_rfm_columns_and_unknown_transforms_are_refused():
    assert set(FEATURE_SETS) >= {"rfm", "rfa", "rfm_tenure", "rfa_tenure"}
    assert "avg_order_value" in FEATURE_SETS["rfa"] and "monetary" not in FEATURE_SETS["rfa"]
    with pytest.raises(ValueError, match="transform must be one of"):
        FeatureTransform(transform="sqrt")
