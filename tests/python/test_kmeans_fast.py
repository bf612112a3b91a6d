"""customer_segments.segmentation.kmeans.fit is scikit-learn's KMeans.fit to the bit: the same labels,
centers, inertia and iterations for k 1..10, n_init 1 and 10 and many seeds, on the embedded data's RFM
features as the build transforms them, on bootstrap resamples drawn as segmentation.stability draws
them, on data full of duplicate rows and ties, and (dbt tier) on the customer_rfm tables of the
embedded and the real data's builds. It holds for the pinned scikit-learn only, which the first test
ties to requirements.lock."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sklearn

from customer_segments.segmentation import kmeans
from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform, eligible_customers
from customer_segments.segmentation.stability import RESAMPLE_SHARE
from synthetic_shop.generate import generate_invoice_lines

ROOT = Path(__file__).resolve().parents[2]
K_VALUES = range(1, 11)


@contextmanager
def warnings_of_this_thread() -> Iterator[list[tuple[type, str]]]:
    """The (category, message) of every warnings.warn call this thread makes inside the block.

    Not warnings.catch_warnings: its filters are the process's, and the session's background builds run
    code (pandas, customer_segments.ingest.inspect) that sets and restores them from other threads; a
    CI run lost scikit-learn's ConvergenceWarning to an 'ignore UserWarning' set so."""
    recorded: list[tuple[type, str]] = []
    thread, warn = threading.current_thread(), warnings.warn

    def record(message, category=None, stacklevel=1, source=None):
        if threading.current_thread() is not thread:
            return warn(message, category, stacklevel + 1, source)
        if isinstance(message, Warning):
            category, message = type(message), str(message)
        recorded.append((category or UserWarning, str(message)))

    warnings.warn = record
    try:
        yield recorded
    finally:
        warnings.warn = warn


def assert_fits_agree(X: np.ndarray, k: int, n_init: int, seed: int) -> None:
    """kmeans.fit on its own path and KMeans.fit give the same bits, and the same warnings."""
    assert kmeans.FAST and kmeans._on_fast_path(X, k, n_init, seed)
    with warnings_of_this_thread() as fast_warnings:
        fast = kmeans.fit(X, k, n_init, seed)
    with warnings_of_this_thread() as sklearn_warnings:
        reference = kmeans.sklearn_fit(X, k, n_init, seed)
    case = f"k={k} n_init={n_init} seed={seed}"
    assert fast.labels.dtype == reference.labels.dtype and np.array_equal(fast.labels, reference.labels), case
    assert np.array_equal(fast.centers, reference.centers), case
    assert fast.inertia == reference.inertia and fast.n_iter == reference.n_iter, case
    assert fast_warnings == sklearn_warnings, case


def assert_agree_on(X: np.ndarray, seeds_one_init: range, seeds_ten_inits: range) -> None:
    for k in K_VALUES:
        for seed in seeds_one_init:
            assert_fits_agree(X, k, 1, seed)
        for seed in seeds_ten_inits:
            assert_fits_agree(X, k, 10, seed)


def resamples(X: np.ndarray, count: int, random_state: int) -> list[np.ndarray]:
    """Rows drawn as stability.Resamples draws them: a sorted subsample without replacement."""
    rng = np.random.default_rng(random_state)
    size = int(RESAMPLE_SHARE * len(X))
    return [X[np.sort(rng.choice(len(X), size=size, replace=False))] for _ in range(count)]


def rfm_of_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Recency, frequency and monetary per identified customer of invoice lines, close to customer_rfm."""
    sales = lines.loc[lines["CustomerID"].notna() & (lines["Quantity"] > 0) & (lines["UnitPrice"] > 0)]
    as_of = sales["InvoiceDate"].max()
    per_customer = sales.assign(amount=sales["Quantity"] * sales["UnitPrice"]).groupby("CustomerID").agg(
        last=("InvoiceDate", "max"), frequency=("InvoiceNo", "nunique"), monetary=("amount", "sum"))
    return pd.DataFrame({
        "customer_id": per_customer.index.astype("int64"),
        "recency_days": (as_of - per_customer["last"]).dt.days.to_numpy(),
        "frequency": per_customer["frequency"].to_numpy(),
        "monetary": per_customer["monetary"].to_numpy(),
    })


def build_features(customers: pd.DataFrame) -> np.ndarray:
    """The production features as segment_k_selection makes them."""
    return FeatureTransform(RFM_FEATURES, "log").fit_transform(eligible_customers(customers))


@pytest.fixture(scope="module")
def embedded_features() -> np.ndarray:
    return build_features(rfm_of_lines(generate_invoice_lines(3000, 42).lines))


def test_the_fast_path_is_on_for_the_pinned_scikit_learn_only():
    pins = dict(re.findall(r"^([\w.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M))
    assert kmeans.PINNED_SKLEARN == pins["scikit-learn"]
    assert kmeans.FAST == (sklearn.__version__ == kmeans.PINNED_SKLEARN)


def test_embedded_features_fit_to_the_bit(embedded_features):
    assert embedded_features.shape[0] > 2500
    assert_agree_on(embedded_features, range(12), range(1))


def test_bootstrap_resamples_fit_to_the_bit(embedded_features):
    for b, rows in enumerate(resamples(embedded_features, 2, 42)):
        assert_agree_on(rows, range(42 + b, 44 + b), range(42 + b, 43 + b))


def test_duplicate_rows_and_ties_fit_to_the_bit():
    rng = np.random.default_rng(5)
    grid = rng.integers(0, 3, size=(400, 3)).astype(np.float64)  # 27 distinct points, many equal distances
    assert_agree_on(grid, range(6), range(1))
    few_points = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [2.0, 0.5]]), 40, axis=0)
    assert_agree_on(few_points, range(6), range(1))  # k > distinct points: empty clusters, warnings
    assert_agree_on(np.zeros((30, 2)), range(3), range(1))
    assert_agree_on(rng.normal(size=(10, 1)), range(5), range(2))  # one feature, n = k at k = 10


def test_input_off_the_fast_path_is_kmeans_own_fit(embedded_features):
    for X in (embedded_features.astype(np.float32), np.rint(embedded_features * 3).astype(np.int64)):
        assert not kmeans._on_fast_path(X, 4, 10, 0)
        fast, reference = kmeans.fit(X, 4, 10, 0), kmeans.sklearn_fit(X, 4, 10, 0)
        assert np.array_equal(fast.labels, reference.labels) and np.array_equal(fast.centers, reference.centers)
    with pytest.raises(ValueError):
        kmeans.fit(embedded_features[:3], 4, 10, 0)  # n < k: KMeans's own error


def built_features(build) -> np.ndarray:
    with duckdb.connect(str(build.db_path), read_only=True) as con:
        return build_features(con.sql("select * from customer_rfm").df())


@pytest.mark.dbt
def test_the_embedded_builds_customers_fit_to_the_bit(generated_build):
    X = built_features(generated_build)
    assert_agree_on(X, range(4), range(2))
    for b, rows in enumerate(resamples(X, 2, 42)):
        assert_agree_on(rows, range(1), range(42 + b, 43 + b))


@pytest.mark.dbt
@pytest.mark.real_data
def test_the_real_builds_customers_fit_to_the_bit(real_build):
    X = built_features(real_build)
    assert_agree_on(X, range(4), range(2))
    for b, rows in enumerate(resamples(X, 2, 42)):
        assert_agree_on(rows, range(1), range(42 + b, 43 + b))
