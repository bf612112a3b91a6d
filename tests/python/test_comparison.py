"""Algorithm and feature-set comparisons, stability, feature importance and order-invariance."""

import numpy as np
import pandas as pd
import pytest

from customer_segments.segmentation.comparison import (
    ALGORITHMS,
    ComparisonSettings,
    build_algorithm_comparison,
    build_feature_set_comparison,
    dbscan_eps,
)
from customer_segments.segmentation.importance import feature_importance_table
from customer_segments.segmentation.segments import build_customer_segments
from customer_segments.segmentation.selection import build_k_selection
from customer_segments.segmentation.stability import STABLE_ARI, bootstrap_stability
from segmentation_data import planted_customers

SETTINGS = ComparisonSettings(k=4, silhouette_sample_size=200, agglomerative_sample_size=150,
                              density_sample_size=250, stability_resamples=3, stability_sample_size=200)
PLAYBOOK = pd.read_csv(__import__("pathlib").Path(__file__).parents[2] / "seeds" / "segment_playbook.csv")


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return planted_customers()


@pytest.fixture(scope="module")
def algorithms(customers) -> pd.DataFrame:
    return build_algorithm_comparison(customers, SETTINGS, customers[["customer_id", "planted_group"]])


def test_every_algorithm_has_a_row_with_the_same_metrics(algorithms):
    assert algorithms["algorithm"].tolist() == list(ALGORITHMS)
    assert algorithms[["n_clusters", "noise_share", "bootstrap_mean_ari"]].notna().all().all()
    assert "fit_seconds" not in algorithms.columns  # wall time would make two builds of one input differ
    centroid_methods = algorithms[algorithms["algorithm"].isin(["kmeans", "ward", "gmm"])]
    assert (centroid_methods["n_clusters"] == 4).all() and (centroid_methods["noise_share"] == 0).all()
    assert "fitted on 150 sampled" in algorithms.set_index("algorithm").loc["ward", "parameters"]


def test_kmeans_recovers_planted_groups_and_is_stable(algorithms):
    kmeans = algorithms.set_index("algorithm").loc["kmeans"]
    assert kmeans["ari_planted_groups"] > 0.95
    assert kmeans["bootstrap_mean_ari"] >= STABLE_ARI


def test_dbscan_eps_sits_at_the_knee_of_the_k_distances():
    rng = np.random.default_rng(0)
    # Two tight blobs (nearest-neighbour distances ~0.05) and sparse noise far away.
    X = np.vstack([rng.normal(0, 0.1, (200, 2)), rng.normal(5, 0.1, (200, 2)), rng.uniform(-20, 20, (20, 2))])
    eps = dbscan_eps(X, min_samples=4)
    assert 0.03 < eps < 2.0


def test_stability_is_high_for_a_real_structure_and_near_zero_for_random_labels():
    X = np.vstack([np.random.default_rng(1).normal(c, 0.2, (100, 2)) for c in (0, 3, 6)])
    from sklearn.cluster import KMeans

    stable, _ = bootstrap_stability(lambda rows, seed: KMeans(3, n_init=3, random_state=seed).fit_predict(rows), X, 3, 200)
    noise, _ = bootstrap_stability(lambda rows, seed: np.random.default_rng(seed).integers(0, 3, len(rows)), X, 3, 200)
    assert stable > 0.95 and abs(noise) < 0.1
    with pytest.raises(ValueError, match="at least 2 resamples"):
        bootstrap_stability(lambda rows, seed: np.zeros(len(rows)), X, 1, 200)


def test_feature_sets_skip_missing_columns_and_rank_with_the_planted_truth(customers):
    table = build_feature_set_comparison(customers.drop(columns=["tenure_days"]), SETTINGS,
                                         customers[["customer_id", "planted_group"]])
    assert set(table["feature_set"]) == {"rfm", "rfa"} and set(table["transform"]) == {"raw", "log", "rank"}
    assert table["rank"].tolist() == list(range(1, 7)) and table["is_best"].sum() == 1
    assert table["is_production"].sum() == 1
    usable = table[table["verdict"] == "usable"]
    assert usable["ari_planted_groups"].is_monotonic_decreasing


def test_feature_importance_names_the_feature_that_separates_a_segment():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (300, 3))
    segments = np.repeat([1, 2, 3], 100)
    X[segments == 3, 0] += 4  # only recency separates segment 3
    table = feature_importance_table(X, segments, ("recency_days", "frequency", "monetary"))
    top = table[table["is_top_driver"]].set_index("segment_id")["feature"]
    assert top[3] == "recency_days"
    overall = table.groupby("feature")[["anova_f", "surrogate_tree_importance"]].first()
    assert overall["anova_f"].idxmax() == "recency_days"
    assert overall["surrogate_tree_importance"].idxmax() == "recency_days"
    assert table["surrogate_tree_importance"].groupby(table["segment_id"]).sum().round(6).eq(1).all()


def test_row_order_of_the_input_changes_nothing(customers):
    shuffled = customers.sample(frac=1, random_state=7).reset_index(drop=True)
    planted = customers[["customer_id", "planted_group"]]
    for build in (
        lambda c: build_k_selection(c, 2, 6, None, 42, 200, 3, 200),
        lambda c: build_customer_segments(c, PLAYBOOK, 4),
        lambda c: build_algorithm_comparison(c, SETTINGS, planted),
        lambda c: build_feature_set_comparison(c, SETTINGS, planted),
    ):
        pd.testing.assert_frame_equal(build(customers), build(shuffled))


def test_feature_set_comparison_says_why_the_build_uses_its_configuration_or_not(customers):
    table = build_feature_set_comparison(customers, SETTINGS, customers[["customer_id", "planted_group"]])
    reasons = table.set_index(["feature_set", "transform"])["production_reason"]
    assert reasons.notna().all() and reasons.str.len().gt(0).all()
    assert reasons[("rfm", "log")].startswith("used by the build")
    # Every other row says "not used", and why: features the names cannot read, or the planted truth.
    assert reasons.drop(("rfm", "log")).str.startswith("not used").all()
    assert "drops monetary" in reasons[("rfa", "log")] and "tenure_days has no level words" in reasons[("rfm_tenure", "log")]
    assert "planted groups" in reasons[("rfm", "raw")]
    best = table.loc[table["is_best"]].iloc[0]
    if not best["is_production"]:
        assert "rank 1" not in reasons[("rfm", "log")] and "rank" in reasons[("rfm", "log")]
    # Without a ground truth the transforms of the same features are said to be unchecked.
    unchecked = build_feature_set_comparison(customers, SETTINGS).set_index(["feature_set", "transform"])
    assert "no ground truth" in unchecked.loc[("rfm", "raw"), "production_reason"]
