"""Choosing k: the Kneedle elbow, the silhouette and stability checks, the n_segments var."""

import numpy as np
import pandas as pd
import pytest

from customer_segments.segmentation.features import FeatureTransform
from customer_segments.segmentation.selection import (
    build_k_selection,
    choose_k,
    chosen_k,
    k_selection_table,
    knee_index,
    validate_k_range,
)
from segmentation_data import planted_customers


def metrics(silhouettes, inertia=(1000, 600, 300, 250, 220, 200), smallest=None, stability=None) -> pd.DataFrame:
    """A hand-written k selection table for k = 2..7 with a clear elbow at k = 4."""
    n = len(inertia)
    return pd.DataFrame({
        "k": np.arange(2, 2 + n),
        "inertia": np.array(inertia, dtype=float),
        "silhouette": np.array(silhouettes, dtype=float),
        "smallest_cluster_share": np.array(smallest if smallest else [0.2] * n),
        "bootstrap_mean_ari": np.array(stability if stability else [0.95] * n),
    })


def test_knee_of_decreasing_and_increasing_curves():
    assert knee_index(np.array([1000, 600, 300, 250, 220, 200])) == 2
    # Sorted k-distances: flat, then a sharp rise at the end.
    assert knee_index(np.array([0.1, 0.11, 0.12, 0.13, 0.14, 0.3, 0.9, 2.0])) == 5
    assert knee_index(np.array([5.0, 5.0, 5.0])) == 0


def test_elbow_is_kept_when_its_silhouette_is_close_to_its_neighbours():
    choice = choose_k(metrics([0.6, 0.40, 0.42, 0.41, 0.30, 0.30]))
    assert (choice.k, choice.elbow_k, choice.chosen_by) == (4, 4, "rule")
    assert "elbow of inertia (Kneedle) at k=4" in choice.reason
    # k = 2 has the best silhouette overall, but the check is local: the elbow stands.


def test_neighbour_with_a_clearly_better_silhouette_replaces_the_elbow():
    choice = choose_k(metrics([0.6, 0.30, 0.30, 0.45, 0.30, 0.30]))
    assert choice.k == 5 and choice.elbow_k == 4
    assert "neighbour k=5" in choice.reason


def test_unstable_or_tiny_segment_k_are_not_candidates():
    unstable_elbow = metrics([0.42, 0.40, 0.42, 0.41, 0.30, 0.30], stability=[0.99, 0.9, 0.5, 0.9, 0.9, 0.9])
    choice = choose_k(unstable_elbow)
    assert choice.elbow_k == 4 and choice.k == 3  # nearest candidates 3 and 5 tie: the smaller wins
    assert "not a candidate" in choice.reason
    tiny = metrics([0.42, 0.40, 0.42, 0.41, 0.30, 0.30], smallest=[0.3, 0.2, 0.01, 0.01, 0.01, 0.01])
    assert choose_k(tiny).k == 3
    with pytest.raises(ValueError, match="set var n_segments"):
        choose_k(metrics([0.5] * 6, smallest=[0.001] * 6))


def test_n_segments_var_overrides_the_rule_and_is_validated():
    choice = choose_k(metrics([0.6, 0.40, 0.42, 0.41, 0.30, 0.30]), override=6)
    assert (choice.k, choice.chosen_by) == (6, "var n_segments")


def test_chosen_k_needs_exactly_one_chosen_row():
    assert chosen_k(pd.DataFrame({"k": [2, 3], "is_chosen": [False, True]})) == 3
    with pytest.raises(ValueError, match="exactly one chosen k"):
        chosen_k(pd.DataFrame({"k": [2, 3], "is_chosen": [True, True]}))


def test_k_range_is_validated():
    with pytest.raises(ValueError, match="2 <= k_min <= k_max"):
        validate_k_range(1, 5, 100)
    with pytest.raises(ValueError, match="2 <= k_min <= k_max"):
        validate_k_range(6, 5, 100)
    # The data's side of the check: k_max must leave fewer segments than customers.
    with pytest.raises(ValueError, match=r"customers \(9\)"):
        validate_k_range(2, 9, 9)
    validate_k_range(2, 8, 9)


def test_the_rule_finds_the_four_planted_groups():
    customers = planted_customers()
    table = build_k_selection(customers, 2, 8, None, random_state=42, silhouette_sample_size=200,
                              stability_max_resamples=5, stability_sample_size=200)
    assert table["is_chosen"].sum() == 1
    assert int(table.loc[table["is_chosen"], "k"].iloc[0]) == 4
    assert table["silhouette_sample_size"].eq(200).all()
    assert table["k"].tolist() == list(range(2, 9))
    assert (table["smallest_cluster_share"] * len(customers)).ge(1).all()


def test_silhouette_is_computed_on_the_sample_size_asked():
    X = FeatureTransform().fit_transform(planted_customers(per_group=30))
    table = k_selection_table(X, range(2, 4), silhouette_sample_size=50, stability_max_resamples=3, stability_sample_size=60)
    assert table["silhouette_sample_size"].tolist() == [50, 50]
    table = k_selection_table(X, range(2, 3), silhouette_sample_size=10_000, stability_max_resamples=3, stability_sample_size=60)
    assert table["silhouette_sample_size"].tolist() == [120]


def test_adjusted_rand_matches_sklearn():
    from sklearn.metrics import adjusted_rand_score

    from customer_segments.segmentation.stability import adjusted_rand

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 200))
        first, second = (np.unique(rng.integers(0, int(rng.integers(1, 7)), n), return_inverse=True)[1]
                         for _ in range(2))
        assert adjusted_rand(first, second) == pytest.approx(adjusted_rand_score(first, second), abs=1e-12)


def test_stability_resamples_until_its_interval_is_clear_of_the_bar():
    from customer_segments.segmentation.stability import (
        MAX_STABILITY_SE,
        STABLE_ARI,
        bootstrap_stability,
        sequential_stability,
    )

    X = FeatureTransform().fit_transform(planted_customers(per_group=60))

    # A labeler that agrees with itself ~80% of the time: near the bar, so it takes more resamples.
    def coin(rows, seed):
        flip = np.random.default_rng(seed).random() < 0.12
        return (rows[:, 0] > (0.5 if flip else 0.0)).astype(int)

    steady = sequential_stability(lambda rows, seed: (rows[:, 0] > 0).astype(int), X, 100, 150).estimate()
    assert steady.resamples == 20 and steady.mean == 1.0 and steady.se == 0.0
    near = sequential_stability(coin, X, 100, 150).estimate()
    # Stopped because it is clear of the bar with a small error, or because the resamples ran out.
    assert near.resamples > 20
    assert (near.se <= MAX_STABILITY_SE and not near.holds(STABLE_ARI)) or near.resamples == 100
    # The same resamples whatever the cap: the first 20 of a longer run are the shorter run.
    capped = sequential_stability(coin, X, 20, 150).estimate()
    assert capped.mean == pytest.approx(bootstrap_stability(coin, X, 20, 150)[0], abs=1e-15)
    assert capped.resamples == 20
