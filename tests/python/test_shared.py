"""Fits and silhouette distances shared between models (customer_segments.segmentation.shared) give the
bits a fresh scikit-learn call gives, and the second call of the same fit is not a refit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from customer_segments.segmentation import shared
from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform
from segmentation_data import planted_customers


def features(seed: int) -> np.ndarray:
    return FeatureTransform(RFM_FEATURES, "log").fit_transform(planted_customers(per_group=150, seed=seed))


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 4), (2, 7)])
def test_a_shared_fit_is_sklearns_fit_to_the_bit(seed, k):
    X = features(seed)
    fitted = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X)
    for _ in range(2):  # the first call fits, the second is served from the store
        labels, inertia = shared.kmeans_fit(X, k, 10, seed)
        assert np.array_equal(labels, fitted.labels_) and inertia == fitted.inertia_


def test_the_same_values_are_one_fit_and_other_values_another(monkeypatch):
    X = features(3)
    calls = []
    real_fit = shared.kmeans.fit
    monkeypatch.setattr(shared.kmeans, "fit", lambda *args: calls.append(1) or real_fit(*args))
    first, _ = shared.kmeans_fit(X, 3, 10, 11)
    first[:] = -1  # a caller changing its labels does not change the stored ones
    again, _ = shared.kmeans_fit(np.asfortranarray(X.copy()), 3, 10, 11)  # same values, other layout
    assert len(calls) == 1 and (again >= 0).all()
    shared.kmeans_fit(X, 3, 10, 12)  # another seed
    shared.kmeans_fit(X[:-1], 3, 10, 11)  # other rows
    assert len(calls) == 3


def test_a_shared_silhouette_is_sklearns_to_the_bit():
    X = features(4)
    for k in (2, 3, 5):
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
        assert shared.silhouette(X, labels) == silhouette_score(X, labels)


def test_the_stores_stay_within_their_bytes():
    store = shared.ProcessStore(max_bytes=100)
    for i in range(10):
        store.put(("key", i), i, 30)
    assert store.bytes <= 100 and len(store.items) == 3 and store.get(("key", 9)) == 9 and store.get(("key", 0)) is None
    store.put(("big",), 0, 101)
    assert store.get(("big",)) is None


def test_a_shared_classifier_is_fitted_once_per_rows_and_predicts_as_a_refit():
    """The time-split pipelines first_purchase_segment_predictions fits are reused by the importance model."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from customer_segments.prediction.shared_fits import shared_fit

    rng = np.random.default_rng(5)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] + rng.normal(scale=0.5, size=200) > 0).to_numpy(dtype=np.int64)
    made = []

    def make():
        made.append(1)
        return make_pipeline(LogisticRegression(random_state=0))

    first = shared_fit(("logistic", 0), make, x, y)
    assert shared_fit(("logistic", 0), make, x.copy(), y.copy()) is first and len(made) == 1
    other = shared_fit(("logistic", 0), make, x.assign(a=x["a"] + 1), y)  # other rows: its own fit
    assert other is not first and len(made) == 2
    refit = make_pipeline(LogisticRegression(random_state=0)).fit(x, y)
    assert np.array_equal(first.predict_proba(x), refit.predict_proba(x))
