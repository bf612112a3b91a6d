"""Choosing the number of segments k: metrics per k and a documented, deterministic rule.

The rule (:func:`choose_k`):

1. Only k whose smallest cluster holds at least ``min_cluster_share`` of customers, and whose
   K-means partition is stable under resampling (bootstrap mean ARI >= STABLE_ARI, see
   :mod:`customer_segments.segmentation.stability`), are candidates: a cluster of a handful of extreme customers
   is not a segment marketing can act on, and a partition that changes when 20% of the customers
   are left out is not one either (stability-based choice of k, after Ben-Hur et al. 2002). Each
   k's stability is estimated with as many resamples as it takes for its interval (mean +- 2
   jackknife standard errors, standard error at most 0.02) to lie wholly above or below the bar,
   up to ``stability_max_resamples``; a k whose interval still holds the bar then is *borderline*,
   is decided by its mean and says so in the reason. The decision is thus taken only where the
   noise cannot flip it, and the resamples go where they are needed.
2. The elbow of the inertia curve is found by the Kneedle method: inertia and k are scaled to [0, 1]
   and the elbow is the k farthest below the straight line from the first to the last point.
3. The elbow is checked against the silhouette of its neighbours: it is kept when its (sampled)
   silhouette is at least ``silhouette_tolerance`` times the best silhouette among the candidates
   k - 1, k, k + 1; otherwise the neighbour with the best silhouette is taken. The check is local on
   purpose: on RFM data the silhouette nearly always peaks at k = 2 ("buyers vs the rest"), which is
   too coarse to act on, so the elbow sets the resolution and the silhouette only fine-tunes it.
4. When the elbow itself is not a candidate, the nearest candidate k is used in its place (smaller k
   on ties), and its neighbours are checked the same way.

Ties are broken by the smaller k, so the same metrics always give the same k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from customer_segments.notes import Note
from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform, eligible_customers
from customer_segments.segmentation.shared import kmeans_fit, silhouette
from customer_segments.segmentation.stability import (
    MIN_STABILITY_ROWS,
    STABLE_ARI,
    Resamples,
    refine,
    sequential_stability,
)

#: Candidate segments must each hold at least this share of customers.
MIN_CLUSTER_SHARE = 0.02
#: The elbow is kept when its silhouette is at least this share of the best candidate's.
SILHOUETTE_TOLERANCE = 0.9


def validate_k_range(k_min: int, k_max: int, n_customers: int) -> None:
    """Refuse a k range that is not 2 <= k_min <= k_max < n_customers (the vars' kinds and bounds are
    customer_segments.settings' to check; this is the check against the data)."""
    if not 2 <= k_min <= k_max < n_customers:
        raise ValueError(f"k range must satisfy 2 <= k_min <= k_max < customers ({n_customers}), "
                         f"got k_min={k_min}, k_max={k_max}")


def chosen_k(k_selection: pd.DataFrame) -> int:
    """The k of the one chosen row of segment_k_selection."""
    chosen = k_selection.loc[k_selection["is_chosen"].astype(bool), "k"]
    if len(chosen) != 1:
        raise ValueError(f"segment_k_selection must have exactly one chosen k, has {len(chosen)}")
    return int(chosen.iloc[0])


#: Default of var selection_sample_size: the model-selection tables (k selection, algorithm and
#: feature-set comparisons) fit on at most this many customers, so their cost stops growing with the
#: data; the production K-means (customer_segments) fits everyone. Above the real data's 4,334; at
#: 100x the real data 50,000 cost 4 s more over the three tables for the same chosen k.
SELECTION_SAMPLE_SIZE = 20_000


def selection_sample(eligible: pd.DataFrame, size: int, random_state: int) -> pd.DataFrame:
    """A fixed-seed sample of ``size`` rows of ``eligible`` (all rows when there are fewer), in order."""
    return eligible.iloc[sample_indices(len(eligible), size, random_state)].reset_index(drop=True)


def sample_indices(n: int, size: int, random_state: int) -> np.ndarray:
    """Sorted indices of a fixed-seed sample of min(size, n) of n rows (all rows when size >= n)."""
    if size < 2:
        raise ValueError(f"sample size must be at least 2, got {size}")
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=size, replace=False))


def cluster_metrics(X: np.ndarray, labels: np.ndarray, silhouette_rows: np.ndarray) -> dict[str, float]:
    """Silhouette (on ``silhouette_rows``), Calinski-Harabasz and Davies-Bouldin of a labelling.

    Rows labelled -1 (noise of density methods) are left out; NaN when fewer than two clusters remain.
    """
    keep = labels >= 0
    n_clusters = len(np.unique(labels[keep]))
    if n_clusters < 2 or n_clusters >= keep.sum():
        return {"silhouette": np.nan, "calinski_harabasz": np.nan, "davies_bouldin": np.nan}
    sample = silhouette_rows[keep[silhouette_rows]]
    sample_labels = labels[sample]
    score = silhouette(X[sample], sample_labels) if 2 <= len(np.unique(sample_labels)) < len(sample) else np.nan
    return {
        "silhouette": float(score),
        "calinski_harabasz": float(calinski_harabasz_score(X[keep], labels[keep])),
        "davies_bouldin": float(davies_bouldin_score(X[keep], labels[keep])),
    }


def cluster_sizes_text(labels: np.ndarray) -> str:
    """Cluster sizes, largest first, as text ('1203,988,412'); noise (-1) is not a cluster."""
    sizes = np.sort(np.bincount(labels[labels >= 0]))[::-1]
    return ",".join(str(int(s)) for s in sizes if s > 0)


#: Default of var stability_max_resamples: the most refits the stability of one k may take.
STABILITY_MAX_RESAMPLES = 100


def k_selection_table(X: np.ndarray, k_values: range, random_state: int = 42,
                      silhouette_sample_size: int = 3000, n_init: int = 10,
                      stability_max_resamples: int = STABILITY_MAX_RESAMPLES,
                      stability_sample_size: int = 3000) -> pd.DataFrame:
    """K-means for each k on the same matrix ``X`` (n_customers, n_features): one row per k.

    Columns: k, inertia, silhouette, calinski_harabasz, davies_bouldin, smallest_cluster_share,
    cluster_sizes, silhouette_sample_size, bootstrap_mean_ari, bootstrap_sd_ari, bootstrap_se_ari,
    bootstrap_ari_low, bootstrap_ari_high, bootstrap_resamples (:func:`sequential_stability`).
    """
    rows, resamples = [], {}
    sample = sample_indices(len(X), silhouette_sample_size, random_state)
    for k in k_values:
        labels, inertia = kmeans_fit(X, k, n_init, random_state)
        rows.append({
            "k": int(k),
            "inertia": inertia,
            **cluster_metrics(X, labels, sample),
            "smallest_cluster_share": float(np.bincount(labels).min() / len(X)),
            "cluster_sizes": cluster_sizes_text(labels),
            "silhouette_sample_size": int(len(sample)),
        })
        # Every k to a standard error of at most MAX_STABILITY_SE first; the bar is for the k the rule reads.
        resamples[int(k)] = sequential_stability(
            # Called within this iteration, so the lambda sees this iteration's k.
            lambda rows, seed: kmeans_fit(rows, k, n_init, seed)[0],  # noqa: B023
            X, stability_max_resamples, stability_sample_size, random_state, bar=None)
    table = with_stability(pd.DataFrame(rows), resamples)
    # The k whose side of the bar decides the choice get resamples until their interval is clear of it;
    # refining one can move the elbow's nearest candidate, so this repeats until nothing changes.
    while unclear := [k for k in sorted(decisive_ks(table)) if resamples[k].estimate().holds(STABLE_ARI)
                      and resamples[k].estimate().resamples < stability_max_resamples]:
        for k in unclear:
            refine(resamples[k], stability_max_resamples, STABLE_ARI)
        table = with_stability(table, resamples)
    return table


def with_stability(table: pd.DataFrame, resamples: dict[int, Resamples]) -> pd.DataFrame:
    """``table`` with the bootstrap columns of each k's resamples."""
    estimates = [resamples[int(k)].estimate() for k in table["k"]]
    return table.assign(bootstrap_mean_ari=[e.mean for e in estimates], bootstrap_sd_ari=[e.sd for e in estimates],
                        bootstrap_se_ari=[e.se for e in estimates], bootstrap_ari_low=[e.low for e in estimates],
                        bootstrap_ari_high=[e.high for e in estimates],
                        bootstrap_resamples=[e.resamples for e in estimates])


def decisive_ks(table: pd.DataFrame, min_cluster_share: float = MIN_CLUSTER_SHARE,
                min_stability: float = STABLE_ARI) -> set[int]:
    """The k whose candidacy :func:`choose_k` reads: from the elbow to its nearest candidate, and one
    either side (the silhouette check's neighbours); every k when no k is a candidate."""
    table = table.sort_values("k")
    elbow = kneedle_elbow(table["k"].to_numpy(dtype=float), table["inertia"].to_numpy(dtype=float))
    candidates = table.loc[(table["smallest_cluster_share"] >= min_cluster_share)
                           & (table["bootstrap_mean_ari"] >= min_stability), "k"]
    if candidates.empty:
        return set(table["k"].astype(int))
    centre = int(min(candidates, key=lambda k: (abs(k - elbow), k)))
    return set(range(min(elbow, centre) - 1, max(elbow, centre) + 2)) & set(table["k"].astype(int))


def knee_index(y: np.ndarray) -> int:
    """Index of the knee of a convex curve sampled at even steps (Kneedle).

    x and y are scaled to [0, 1]; the knee is the point farthest below the chord from the first to
    the last point. Works for decreasing curves (inertia by k) and increasing ones (sorted k-distances).
    """
    y = np.asarray(y, dtype=float)
    if len(y) < 3:
        return 0
    x = np.linspace(0.0, 1.0, len(y))
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else np.zeros_like(y)
    chord = y[0] + (y[-1] - y[0]) * x
    return int(np.argmax(chord - y))


def kneedle_elbow(k: np.ndarray, inertia: np.ndarray) -> int:
    """The k at the elbow of the inertia curve; ``k`` must be consecutive integers."""
    return int(np.asarray(k)[knee_index(inertia)])


@dataclass(frozen=True)
class KChoice:
    """The chosen k, the elbow the rule started from and the reason in words."""

    k: int
    elbow_k: int
    chosen_by: str
    reason: str


def choose_k(table: pd.DataFrame, min_cluster_share: float = MIN_CLUSTER_SHARE,
             silhouette_tolerance: float = SILHOUETTE_TOLERANCE, min_stability: float = STABLE_ARI,
             override: int | None = None) -> KChoice:
    """Apply the rule in the module docstring to a :func:`k_selection_table`; ``override`` wins."""
    table = table.sort_values("k").reset_index(drop=True)
    elbow = kneedle_elbow(table["k"].to_numpy(dtype=float), table["inertia"].to_numpy(dtype=float))
    if override is not None:
        if override not in set(table["k"]):
            raise ValueError(f"n_segments={override} is not among the k evaluated {table['k'].tolist()}")
        return KChoice(override, elbow, "var n_segments",
                       f"var n_segments={override} overrides the rule (the elbow is at k={elbow})")
    candidates = table[(table["smallest_cluster_share"] >= min_cluster_share)
                       & (table["bootstrap_mean_ari"] >= min_stability)]
    if candidates.empty:
        raise ValueError(f"every k in {table['k'].tolist()} leaves a segment under {min_cluster_share:.0%} "
                         f"of customers or has a bootstrap ARI under {min_stability}: set var n_segments, "
                         "change k_min/k_max or check the features for outliers")
    # The elbow, or the nearest candidate to it when the elbow is not a candidate.
    distance = (candidates["k"] - elbow).abs()
    centre = int(candidates.assign(d=distance).sort_values(["d", "k"]).iloc[0]["k"])
    neighbours = candidates[candidates["k"].between(centre - 1, centre + 1)]
    best = neighbours.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
    centre_silhouette = float(neighbours.set_index("k").loc[centre, "silhouette"])
    start = f"elbow of inertia (Kneedle) at k={elbow}" + (
        "" if centre == elbow else f", which is not a candidate (a segment under {min_cluster_share:.0%} or "
                                   f"bootstrap ARI under {min_stability}); nearest candidate k={centre}")
    borderline = borderline_note(table, min_stability, {elbow, centre - 1, centre, centre + 1})
    if centre_silhouette >= silhouette_tolerance * float(best["silhouette"]):
        return KChoice(centre, elbow, "rule",
                       f"{start}; its silhouette {centre_silhouette:.3f} is within "
                       f"{1 - silhouette_tolerance:.0%} of the best neighbour's ({float(best['silhouette']):.3f})"
                       f"{borderline}")
    k = int(best["k"])
    return KChoice(k, elbow, "rule",
                   f"{start}; its silhouette {centre_silhouette:.3f} is more than {1 - silhouette_tolerance:.0%} "
                   f"below neighbour k={k} ({float(best['silhouette']):.3f}), which is taken{borderline}")


def borderline_note(table: pd.DataFrame, bar: float, ks: set[int]) -> str:
    """'; borderline stability ...' for the k in ``ks`` whose stability interval still holds ``bar`` ('' for none).

    Such a k used every resample it was allowed and its mean still cannot be told from the bar: the
    rule decides it by its mean, and a reader should know that this part of the choice is a coin toss.
    """
    if "bootstrap_ari_low" not in table:
        return ""
    rows = table[table["k"].isin(ks) & (table["bootstrap_ari_low"] <= bar) & (table["bootstrap_ari_high"] >= bar)]
    return "".join(f"; borderline stability at k={int(r.k)}: ARI {r.bootstrap_mean_ari:.3f} "
                   f"({r.bootstrap_ari_low:.3f}..{r.bootstrap_ari_high:.3f}) after {int(r.bootstrap_resamples)} "
                   f"resamples, decided by its mean" for r in rows.itertuples())


#: chosen_by of the one-segment fallback row (k = 1) of segment_k_selection.
ONE_SEGMENT = "fallback: one segment"


@dataclass(frozen=True)
class KRange:
    """The k evaluated on this data: vars k_min..k_max capped to what the customers allow.

    ``k_values`` is empty when the rule cannot run at all (then every customer is one segment);
    ``note`` says what was capped and why (None when nothing was).
    """

    k_values: range
    note: str | None


def k_range_for(k_min: int, k_max: int, n_points: int) -> KRange:
    """vars k_min..k_max capped to ``n_points`` distinct customers (feature points).

    Every metric of a k needs k < n_points (a silhouette needs a cluster with two points), and the
    bootstrap stability the rule relies on needs MIN_STABILITY_ROWS points: with fewer there is no k
    the rule can judge, and the customers are one segment.
    """
    if n_points < MIN_STABILITY_ROWS:
        return KRange(range(0), f"{n_points} distinct customer(s) with a positive net spend: the k rule needs at "
                                f"least {MIN_STABILITY_ROWS} (bootstrap stability resamples 80% of them), so "
                                "every customer is in one segment (var n_segments is not applied)")
    high = min(k_max, n_points - 1)
    if high == k_max:
        return KRange(range(k_min, k_max + 1), None)
    low = min(k_min, high)
    return KRange(range(low, high + 1), f"k range {k_min}..{k_max} capped to {low}..{high}: "
                                        f"{n_points} distinct customers allow k up to {n_points - 1}")


def one_segment_row(X: np.ndarray) -> dict[str, object]:
    """The k = 1 row: every customer in one segment (ARI 1: one cluster is reproduced by every resample)."""
    return {"k": 1, "inertia": float(((X - X.mean(axis=0)) ** 2).sum()) if len(X) else 0.0, "silhouette": np.nan,
            "calinski_harabasz": np.nan, "davies_bouldin": np.nan, "smallest_cluster_share": 1.0,
            "cluster_sizes": str(len(X)), "silhouette_sample_size": 0,
            "bootstrap_mean_ari": 1.0, "bootstrap_sd_ari": 0.0, "bootstrap_se_ari": 0.0, "bootstrap_ari_low": 1.0,
            "bootstrap_ari_high": 1.0, "bootstrap_resamples": 0}


def has_candidates(table: pd.DataFrame, min_cluster_share: float = MIN_CLUSTER_SHARE,
                   min_stability: float = STABLE_ARI) -> bool:
    """Whether some k of a :func:`k_selection_table` passes the rule's first step."""
    return bool(((table["smallest_cluster_share"] >= min_cluster_share)
                 & (table["bootstrap_mean_ari"] >= min_stability)).any())


def build_k_selection(customers: pd.DataFrame, k_min: int = 2, k_max: int = 10, n_segments: int | None = None,
                      random_state: int = 42, silhouette_sample_size: int = 3000,
                      stability_max_resamples: int = STABILITY_MAX_RESAMPLES, stability_sample_size: int = 3000,
                      selection_sample_size: int = SELECTION_SAMPLE_SIZE) -> pd.DataFrame:
    """The segment_k_selection table: one row per k with its metrics, exactly one ``is_chosen``.

    Uses the production features (log RFM, standardized, clipped) of customers with monetary > 0, or of
    a fixed-seed sample of ``selection_sample_size`` of them when there are more (column ``customers``).
    ``n_segments`` is the var as customer_segments.settings parses it: None ('auto') applies
    :func:`choose_k`, an integer in [k_min, k_max] overrides it (lowered to the largest k evaluated
    when the range was capped). The k range is capped to the customers (:func:`k_range_for`); with
    too few customers for the rule, or no k passing its first step, the table is the one row k = 1,
    chosen (``chosen_by`` ONE_SEGMENT, the reason in ``selection_reason`` and in build_notes).
    """
    eligible = selection_sample(eligible_customers(customers), selection_sample_size, random_state)
    X = FeatureTransform(RFM_FEATURES, "log").fit_transform(eligible)
    k_range = k_range_for(k_min, k_max, len(np.unique(X, axis=0)) if len(X) else 0)
    if not len(k_range.k_values):
        table = pd.DataFrame([one_segment_row(X)])
        choice = KChoice(1, 1, ONE_SEGMENT, k_range.note)
    else:
        validate_k_range(k_range.k_values.start, k_range.k_values.stop - 1, len(eligible))
        table = k_selection_table(X, k_range.k_values, random_state, silhouette_sample_size,
                                  stability_max_resamples=stability_max_resamples,
                                  stability_sample_size=stability_sample_size)
        override = None if n_segments is None else min(n_segments, k_range.k_values.stop - 1)
        capped = "" if k_range.note is None else f"{k_range.note}; "
        if override is None and not has_candidates(table):
            table = pd.concat([pd.DataFrame([one_segment_row(X)]), table], ignore_index=True)
            choice = KChoice(1, kneedle_elbow(table["k"].iloc[1:].to_numpy(dtype=float),
                                              table["inertia"].iloc[1:].to_numpy(dtype=float)), ONE_SEGMENT,
                             f"{capped}every k in {table['k'].iloc[1:].tolist()} leaves a segment under "
                             f"{MIN_CLUSTER_SHARE:.0%} of customers or has a bootstrap ARI under {STABLE_ARI}: every "
                             "customer is in one segment (set var n_segments to force a k)")
        else:
            choice = choose_k(table, override=override)
            if capped:
                choice = KChoice(choice.k, choice.elbow_k, choice.chosen_by, capped + choice.reason)
    return table.assign(
        is_chosen=table["k"] == choice.k,
        elbow_k=choice.elbow_k,
        chosen_by=choice.chosen_by,
        selection_reason=choice.reason,
        features=", ".join(RFM_FEATURES),
        transform="log1p, standardized, clipped at +-3",
        customers=len(eligible),
    )


def k_selection_note(k_selection: pd.DataFrame) -> Note | None:
    """The build note of segment_k_selection: the k range capped or one segment, from the chosen row."""
    chosen = k_selection.loc[k_selection["is_chosen"].astype(bool)].iloc[0]
    if chosen["chosen_by"] == ONE_SEGMENT:
        return Note("segment_k_selection", "one segment", str(chosen["selection_reason"]))
    if str(chosen["selection_reason"]).startswith("k range "):
        return Note("segment_k_selection", "k range capped", str(chosen["selection_reason"]).split("; ")[0])
    return None
