"""Bootstrap stability of a clustering: refit on resamples, compare the labels of shared customers.

Each resample is a fixed-seed subsample drawn without replacement (an m-out-of-n bootstrap):
duplicated customers, as in the classic bootstrap, would create artificial dense spots that density
methods and Ward linkage latch onto. Each pair of resamples is compared by the adjusted Rand index on
the customers they share; the mean over pairs is the stability (1 = identical partitions, 0 = chance).

The mean over pairs is a U-statistic of the resamples; its standard error is the jackknife's (leave
one resample out, recompute the mean over the remaining pairs). :func:`sequential_stability` adds
resamples until the standard error is at most MAX_STABILITY_SE and, when asked, until the interval
mean +- INTERVAL_Z standard errors no longer holds the bar, so a stability near the bar gets the
resamples it needs and one far from it does not pay for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: A labeler fits a clustering on rows X (n, n_features) with a seed and returns one label per row.
Labeler = Callable[[np.ndarray, int], np.ndarray]

#: Partitions whose resamples agree with a mean ARI of at least this are called stable. Hennig's
#: clusterboot reads a Jaccard recovery >= 0.75 as "stable" and <= 0.5 as "dissolved"; ARI is stricter
#: than Jaccard on the same partitions, so 0.8 on ARI is a demanding bar that well-separated planted
#: segments pass and a chance split fails by far.
STABLE_ARI = 0.8
#: Each resample holds this share of the rows (so that resamples differ) and at least MIN_RESAMPLE_ROWS.
RESAMPLE_SHARE = 0.8
MIN_RESAMPLE_ROWS = 10
#: The fewest rows a stability estimate can be made on: the smallest n with int(0.8 n) >= 10.
MIN_STABILITY_ROWS = math.ceil(MIN_RESAMPLE_ROWS / RESAMPLE_SHARE)
#: The stability interval is the mean +- this many (jackknife) standard errors (about 95%).
INTERVAL_Z = 2.0
#: Resampling goes on until the standard error is at most this (or the resamples run out).
MAX_STABILITY_SE = 0.02
#: :func:`sequential_stability` looks at its estimate first after this many resamples, then after every
#: STABILITY_STEP more: a jackknife over fewer resamples misjudges its own error.
FIRST_LOOK = 20
STABILITY_STEP = 10


def adjusted_rand(first: np.ndarray, second: np.ndarray) -> float:
    """Adjusted Rand index of two labellings coded 0..m-1 (the same as sklearn's adjusted_rand_score)."""
    width = int(second.max()) + 1
    table = np.bincount(first * width + second, minlength=(int(first.max()) + 1) * width).astype(float)
    table = table.reshape(-1, width)
    pairs = lambda counts: float((counts * (counts - 1)).sum() / 2)  # noqa: E731
    index, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total = len(first) * (len(first) - 1) / 2
    expected = rows * cols / total if total else 0.0
    top = (rows + cols) / 2
    # One cluster on both sides (or identical trivial partitions): sklearn's convention is 1.
    return 1.0 if top == expected else (index - expected) / (top - expected)


@dataclass(frozen=True)
class Stability:
    """Mean pairwise ARI over ``resamples`` refits, its spread over pairs and its jackknife standard error."""

    mean: float
    sd: float
    se: float
    resamples: int

    @property
    def low(self) -> float:
        return self.mean - INTERVAL_Z * self.se

    @property
    def high(self) -> float:
        return self.mean + INTERVAL_Z * self.se

    def holds(self, bar: float) -> bool:
        """Whether the interval still holds ``bar`` (the estimate cannot tell which side it is on)."""
        return self.low <= bar <= self.high


class Resamples:
    """Refits on fixed-seed subsamples, drawn in order, with the ARI of every pair so far."""

    def __init__(self, labeler: Labeler, X: np.ndarray, sample_size: int, random_state: int):
        n = len(X)
        self.size = min(sample_size, int(RESAMPLE_SHARE * n))
        if self.size < MIN_RESAMPLE_ROWS:
            raise ValueError(f"too few customers ({n}) for a stability estimate")
        self.labeler, self.X, self.random_state = labeler, X, random_state
        self.rng = np.random.default_rng(random_state)
        self.codes: list[np.ndarray] = []  # per refit: its labels coded 0..m-1 on every row, -1 off the resample
        self.ari = np.zeros((0, 0))

    def add(self, count: int) -> None:
        for _ in range(count):
            b = len(self.codes)
            rows = np.sort(self.rng.choice(len(self.X), size=self.size, replace=False))
            codes = np.full(len(self.X), -1, dtype=np.int64)
            codes[rows] = np.unique(self.labeler(self.X[rows], self.random_state + b), return_inverse=True)[1]
            ari = np.zeros((b + 1, b + 1))
            ari[:b, :b] = self.ari
            for a, earlier in enumerate(self.codes):
                shared = (earlier >= 0) & (codes >= 0)
                ari[a, b] = ari[b, a] = adjusted_rand(earlier[shared], codes[shared])
            self.codes.append(codes)
            self.ari = ari

    def estimate(self) -> Stability:
        b = len(self.codes)
        upper = self.ari[np.triu_indices(b, 1)]
        mean = float(upper.mean())
        if b < 3:
            return Stability(mean, float(upper.std()), math.nan, b)
        # Leave-one-resample-out means: the pairs not involving resample i.
        without = (upper.sum() - self.ari.sum(axis=1)) / ((b - 1) * (b - 2) / 2)
        se = math.sqrt((b - 1) / b * float(((without - without.mean()) ** 2).sum()))
        return Stability(mean, float(upper.std()), se, b)


def bootstrap_stability(labeler: Labeler, X: np.ndarray, n_resamples: int = 5, sample_size: int = 3000,
                        random_state: int = 42) -> tuple[float, float]:
    """Mean and standard deviation of the pairwise ARI between refits on ``n_resamples`` subsamples.

    Parameters
    ----------
    labeler : fits and labels rows, e.g. ``lambda X, seed: KMeans(4, random_state=seed).fit_predict(X)``.
    X : shape (n_customers, n_features), rows sorted by customer id.
    n_resamples : refits, at least 2.
    sample_size : rows per resample; at most 80% of the rows so that resamples differ.
    random_state : seed of the resampling; refit b uses seed ``random_state + b``.
    """
    if n_resamples < 2:
        raise ValueError(f"stability needs at least 2 resamples, got {n_resamples}")
    resamples = Resamples(labeler, X, sample_size, random_state)
    resamples.add(n_resamples)
    estimate = resamples.estimate()
    return estimate.mean, estimate.sd


def sequential_stability(labeler: Labeler, X: np.ndarray, max_resamples: int = 100, sample_size: int = 3000,
                         random_state: int = 42, bar: float | None = STABLE_ARI) -> Resamples:
    """The stability of ``labeler`` on ``X`` with as many resamples as it takes to place it against ``bar``.

    Resamples are drawn as in :func:`bootstrap_stability` (the first b are the same); the estimate is
    looked at after FIRST_LOOK resamples and every STABILITY_STEP more, and resampling stops at the first
    look where the standard error is at most MAX_STABILITY_SE and (unless ``bar`` is None) the interval
    (mean +- INTERVAL_Z standard errors) lies wholly above or below ``bar``, or when ``max_resamples``
    (at least 3) are used. Returns the resamples, so that :func:`refine` can go on from them.
    """
    if max_resamples < 3:
        raise ValueError(f"a stability interval needs at least 3 resamples, got {max_resamples}")
    resamples = Resamples(labeler, X, sample_size, random_state)
    resamples.add(min(FIRST_LOOK, max_resamples))
    return refine(resamples, max_resamples, bar)


def refine(resamples: Resamples, max_resamples: int, bar: float | None) -> Resamples:
    """Add resamples STABILITY_STEP at a time while the estimate is too rough (see sequential_stability)."""
    estimate = resamples.estimate()
    while estimate.resamples < max_resamples and (
            estimate.se > MAX_STABILITY_SE or (bar is not None and estimate.holds(bar))):
        resamples.add(min(STABILITY_STEP, max_resamples - estimate.resamples))
        estimate = resamples.estimate()
    return resamples
