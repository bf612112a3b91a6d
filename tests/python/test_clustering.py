"""K-means segments: deterministic, order-invariant, ids ordered by monetary on a first build, arguments validated."""

import numpy as np
import pandas as pd
import pytest

from customer_segments.segmentation.clustering import fit_kmeans_segments
from customer_segments.segmentation.features import FeatureTransform
from customer_segments.segmentation.relabel import order_by_mean


def three_groups(seed: int = 0, per_group: int = 60) -> pd.DataFrame:
    """Well separated customers: (recency, frequency, monetary) around three centres."""
    rng = np.random.default_rng(seed)
    centres = [(5, 30, 20000.0), (60, 5, 1500.0), (300, 1, 150.0)]
    rows = []
    for recency, frequency, monetary in centres:
        rows.append(pd.DataFrame({
            "recency_days": np.maximum(0, rng.normal(recency, recency * 0.1, per_group)).round(),
            "frequency": np.maximum(1, rng.normal(frequency, frequency * 0.1, per_group)).round(),
            "monetary": rng.lognormal(np.log(monetary), 0.1, per_group),
        }))
    customers = pd.concat(rows, ignore_index=True)
    customers.insert(0, "customer_id", np.arange(10000, 10000 + len(customers)))
    return customers


def test_order_by_mean_numbers_clusters_by_descending_mean():
    labels = np.array([0, 0, 1, 1, 2, 2])
    values = np.array([1.0, 1.0, 9.0, 9.0, 5.0, 5.0])
    assert order_by_mean(labels, values).tolist() == [3, 3, 1, 1, 2, 2]


def test_recovers_separated_groups_with_id_1_the_biggest_spenders():
    customers = three_groups()
    fit = fit_kmeans_segments(customers, n_segments=3, random_state=42)
    merged = customers.merge(fit.assignments, on="customer_id")
    assert merged.groupby("segment_id")["monetary"].mean().is_monotonic_decreasing
    # Each true group of 60 lands in exactly one segment.
    assert sorted(merged.groupby("segment_id").size().tolist()) == [60, 60, 60]
    assert fit.centroids.shape == (3, 3)
    assert (fit.assignments["distance_to_centroid"] >= 0).all()


def test_same_input_same_output_and_row_order_does_not_matter():
    customers = three_groups()
    first = fit_kmeans_segments(customers, n_segments=3).assignments
    again = fit_kmeans_segments(customers, n_segments=3).assignments
    shuffled = fit_kmeans_segments(customers.sample(frac=1, random_state=7), n_segments=3).assignments
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, shuffled)


def test_customers_without_positive_monetary_are_not_segmented():
    customers = three_groups()
    customers.loc[:4, "monetary"] = 0.0
    fit = fit_kmeans_segments(customers, n_segments=3)
    assert len(fit.assignments) == len(customers) - 5
    assert not set(customers.loc[:4, "customer_id"]) & set(fit.assignments["customer_id"])


@pytest.mark.parametrize("k", [0, 181, 2.5, True])
def test_k_out_of_range_or_not_an_integer_is_refused(k):
    with pytest.raises(ValueError, match="n_segments"):
        fit_kmeans_segments(three_groups(), n_segments=k)


def test_feature_transform_refuses_negative_or_missing_values():
    with pytest.raises(ValueError, match="non-negative"):
        FeatureTransform().fit(pd.DataFrame({"recency_days": [-1], "frequency": [1], "monetary": [1.0]}))
    with pytest.raises(ValueError, match="missing columns"):
        FeatureTransform().fit(pd.DataFrame({"recency_days": [1]}))
