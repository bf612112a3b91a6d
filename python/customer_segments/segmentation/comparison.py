"""Algorithms and feature sets compared on the same customers, with the same metrics.

Algorithms (:data:`ALGORITHMS`), each a labeler ``(X, k, random_state, sizes) -> (labels, params)``:

- ``kmeans``: K-means, k clusters, 10 initialisations (the production algorithm).
- ``ward``: Ward agglomerative clustering. Its memory is O(n^2), so it is fitted on a fixed-seed
  sample of ``agglomerative_sample_size`` customers and every other customer joins the nearest
  centroid of the sample's clusters.
- ``gmm``: Gaussian mixture with k full-covariance components, fitted on everyone.
- ``dbscan``: DBSCAN with min_samples = 2 x features (Sander et al.'s rule of thumb) and eps at the
  knee (Kneedle) of the sorted min_samples-distance curve. Fitted on a fixed-seed sample of
  ``density_sample_size``; others join the cluster of the nearest core sample within eps, else noise.
- ``hdbscan``: scikit-learn's HDBSCAN with min_cluster_size = 2% of the fitted rows (the same floor as
  the k rule's smallest segment). Same sample; others take the label of their nearest sample neighbour.

Density methods choose their own number of clusters and mark noise (label -1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from customer_segments.notes import Note, empty_table
from customer_segments.segmentation.features import (
    FEATURE_SETS,
    RFM_FEATURES,
    TRANSFORMS,
    FeatureTransform,
    eligible_customers,
)
from customer_segments.segmentation.relabel import centroids_of
from customer_segments.segmentation.selection import (
    MIN_CLUSTER_SHARE,
    SELECTION_SAMPLE_SIZE,
    chosen_k,
    cluster_metrics,
    cluster_sizes_text,
    knee_index,
    sample_indices,
    selection_sample,
)
from customer_segments.segmentation.shared import kmeans_fit
from customer_segments.segmentation.stability import STABLE_ARI, bootstrap_stability


@dataclass(frozen=True)
class ComparisonSettings:
    """Sizes and seeds shared by every comparison (dbt vars of the same names)."""

    k: int
    random_state: int = 42
    silhouette_sample_size: int = 3000
    agglomerative_sample_size: int = 2000
    density_sample_size: int = 5000
    stability_resamples: int = 5
    stability_sample_size: int = 3000
    selection_sample_size: int = SELECTION_SAMPLE_SIZE


def kmeans_labels(X: np.ndarray, k: int, random_state: int, settings: ComparisonSettings) -> tuple[np.ndarray, str]:
    return kmeans_fit(X, k, 10, random_state)[0], "n_init=10"


def ward_labels(X: np.ndarray, k: int, random_state: int, settings: ComparisonSettings) -> tuple[np.ndarray, str]:
    rows = sample_indices(len(X), settings.agglomerative_sample_size, random_state)
    fitted = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(X[rows])
    clusters, centres = centroids_of(X[rows], fitted)
    labels = clusters[np.argmin(cdist(X, centres), axis=1)]
    labels[rows] = fitted  # sampled customers keep the label they were fitted with
    return labels, f"fitted on {len(rows)} sampled, rest by nearest centroid"


def gmm_labels(X: np.ndarray, k: int, random_state: int, settings: ComparisonSettings) -> tuple[np.ndarray, str]:
    model = GaussianMixture(n_components=k, covariance_type="full", n_init=2, random_state=random_state)
    return model.fit(X).predict(X), "covariance=full, n_init=2"


def dbscan_eps(X: np.ndarray, min_samples: int) -> float:
    """eps at the knee of the sorted distances to each row's min_samples-th neighbour (itself first)."""
    distances, _ = NearestNeighbors(n_neighbors=min_samples).fit(X).kneighbors(X)
    curve = np.sort(distances[:, -1])
    return float(curve[knee_index(curve)])


def dbscan_labels(X: np.ndarray, k: int, random_state: int, settings: ComparisonSettings) -> tuple[np.ndarray, str]:
    rows = sample_indices(len(X), settings.density_sample_size, random_state)
    min_samples = 2 * X.shape[1]
    eps = dbscan_eps(X[rows], min_samples)
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(X[rows])
    labels = np.full(len(X), -1, dtype=np.int64)
    core = model.components_
    if len(core):
        distance, nearest = NearestNeighbors(n_neighbors=1).fit(core).kneighbors(X)
        core_labels = model.labels_[model.core_sample_indices_]
        within = distance[:, 0] <= eps
        labels[within] = core_labels[nearest[within, 0]]
    labels[rows] = model.labels_
    return labels, f"eps={eps:.3f} (k-distance knee), min_samples={min_samples}, fitted on {len(rows)}"


def hdbscan_labels(X: np.ndarray, k: int, random_state: int, settings: ComparisonSettings) -> tuple[np.ndarray, str]:
    rows = sample_indices(len(X), settings.density_sample_size, random_state)
    min_cluster_size = max(5, math.ceil(MIN_CLUSTER_SHARE * len(rows)))
    fitted = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(X[rows])
    _, nearest = NearestNeighbors(n_neighbors=1).fit(X[rows]).kneighbors(X)
    labels = fitted[nearest[:, 0]]
    labels[rows] = fitted
    return labels, f"min_cluster_size={min_cluster_size}, fitted on {len(rows)}"


AlgorithmLabeler = Callable[[np.ndarray, int, int, ComparisonSettings], tuple[np.ndarray, str]]
ALGORITHMS: dict[str, AlgorithmLabeler] = {
    "kmeans": kmeans_labels,
    "ward": ward_labels,
    "gmm": gmm_labels,
    "dbscan": dbscan_labels,
    "hdbscan": hdbscan_labels,
}


def score_labels(X: np.ndarray, labels: np.ndarray, settings: ComparisonSettings,
                 planted: np.ndarray | None) -> dict[str, object]:
    """The metrics every comparison row carries, for labels of all rows of X (-1 = noise)."""
    sample = sample_indices(len(X), settings.silhouette_sample_size, settings.random_state)
    clustered = labels[labels >= 0]
    sizes = np.bincount(clustered) if len(clustered) else np.array([0])
    return {
        "n_clusters": int(len(np.unique(clustered))),
        "noise_share": float((labels < 0).mean()),
        **cluster_metrics(X, labels, sample),
        "smallest_cluster_share": float(sizes[sizes > 0].min() / len(X)) if len(clustered) else 0.0,
        "cluster_sizes": cluster_sizes_text(labels),
        "silhouette_sample_size": int(len(sample)),
        "ari_planted_groups": float(adjusted_rand_score(planted, labels)) if planted is not None else np.nan,
    }


def stability_of(labeler: AlgorithmLabeler, X: np.ndarray, settings: ComparisonSettings) -> dict[str, float]:
    mean, sd = bootstrap_stability(lambda rows, seed: labeler(rows, settings.k, seed, settings)[0], X,
                                   settings.stability_resamples, settings.stability_sample_size,
                                   settings.random_state)
    return {"bootstrap_mean_ari": mean, "bootstrap_sd_ari": sd, "bootstrap_resamples": settings.stability_resamples}


def compare_algorithms(X: np.ndarray, settings: ComparisonSettings, planted: np.ndarray | None = None) -> pd.DataFrame:
    """One row per algorithm on the same matrix X (n_customers, n_features) and the same k.

    ``planted`` (optional, one label per row) adds the adjusted Rand index against known groups.
    """
    rows = []
    for name, labeler in ALGORITHMS.items():
        labels, params = labeler(X, settings.k, settings.random_state, settings)
        rows.append({"algorithm": name, "parameters": params,
                     **score_labels(X, labels, settings, planted), **stability_of(labeler, X, settings)})
    return pd.DataFrame(rows)


def compare_feature_sets(customers: pd.DataFrame, settings: ComparisonSettings,
                         planted: np.ndarray | None = None,
                         feature_sets: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """K-means with the same k on every feature set x transform; one row each.

    ``customers`` are the eligible customers sorted by id. Feature sets whose columns are absent
    are skipped, so sets naming later features (e.g. category shares) can be listed before they exist.
    ``top_spender_segment_share`` is the share of customers in the segment of the biggest spender:
    close to 0 means the outliers got a segment of their own.
    """
    rows = []
    top_spender = int(np.argmax(customers["monetary"].astype("float64").to_numpy()))
    for set_name, features in (feature_sets or FEATURE_SETS).items():
        if not set(features) <= set(customers.columns):
            continue
        for transform in TRANSFORMS:
            X = FeatureTransform(features, transform).fit_transform(customers)
            labels, _ = kmeans_labels(X, settings.k, settings.random_state, settings)
            rows.append({
                "feature_set": set_name,
                "features": ", ".join(features),
                "transform": transform,
                "k": settings.k,
                **score_labels(X, labels, settings, planted),
                "top_spender_segment_share": float((labels == labels[top_spender]).mean()),
                **stability_of(kmeans_labels, X, settings),
            })
    table = pd.DataFrame(rows)
    return rank_feature_sets(table)


def rank_feature_sets(table: pd.DataFrame) -> pd.DataFrame:
    """Rank configurations; ``is_best`` marks rank 1 and ``verdict`` says why a configuration is out.

    Usable configurations come first (no segment under MIN_CLUSTER_SHARE, bootstrap ARI at least
    STABLE_ARI); then the adjusted Rand index against planted groups when the data has them (the only
    ground truth), then bootstrap stability. Silhouette and the other geometric indices are *not* used
    across configurations: each transform makes its own space, and on the generated data raw features
    score the highest silhouette while recovering the planted groups the worst.
    """
    usable = (table["smallest_cluster_share"] >= MIN_CLUSTER_SHARE) & (table["bootstrap_mean_ari"] >= STABLE_ARI)
    truth = table["ari_planted_groups"].fillna(-1.0)
    order = table.assign(usable=usable, truth=truth).sort_values(
        ["usable", "truth", "bootstrap_mean_ari", "feature_set", "transform"],
        ascending=[False, False, False, True, True])
    table = table.assign(rank=0)
    table.loc[order.index, "rank"] = np.arange(1, len(order) + 1)
    table["verdict"] = np.where(
        table["smallest_cluster_share"] < MIN_CLUSTER_SHARE, f"a segment under {MIN_CLUSTER_SHARE:.0%} of customers",
        np.where(table["bootstrap_mean_ari"] < STABLE_ARI, f"unstable (bootstrap ARI < {STABLE_ARI})", "usable"))
    table["is_best"] = table["rank"] == 1
    return table.sort_values("rank").reset_index(drop=True)


def planted_labels(eligible: pd.DataFrame, planted_groups: pd.DataFrame | None) -> np.ndarray | None:
    """Planted group of each eligible customer (generated data only), or None without planted groups."""
    if planted_groups is None:
        return None
    if not {"customer_id", "planted_group"} <= set(planted_groups.columns):
        raise ValueError("planted groups need columns customer_id and planted_group")
    joined = eligible[["customer_id"]].merge(planted_groups, on="customer_id", how="left")
    return joined["planted_group"].astype("str").fillna("unknown").to_numpy()


def build_algorithm_comparison(customers: pd.DataFrame, settings: ComparisonSettings,
                               planted_groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """The segment_algorithm_comparison table on the production features of customers with monetary > 0
    (a fixed-seed sample of settings.selection_sample_size of them when there are more)."""
    eligible = selection_sample(eligible_customers(customers), settings.selection_sample_size, settings.random_state)
    X = FeatureTransform(RFM_FEATURES, "log").fit_transform(eligible)
    table = compare_algorithms(X, settings, planted_labels(eligible, planted_groups))
    return table.assign(k=settings.k, is_production=table["algorithm"] == "kmeans", customers=len(eligible))


def build_feature_set_comparison(customers: pd.DataFrame, settings: ComparisonSettings,
                                 planted_groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """The segment_feature_set_comparison table on customers with monetary > 0 (a fixed-seed sample of
    settings.selection_sample_size of them when there are more)."""
    eligible = selection_sample(eligible_customers(customers), settings.selection_sample_size, settings.random_state)
    table = compare_feature_sets(eligible, settings, planted_labels(eligible, planted_groups))
    table = table.assign(is_production=(table["feature_set"] == "rfm") & (table["transform"] == "log"),
                         customers=len(eligible))
    return table.assign(production_reason=production_reasons(table))


def production_reasons(table: pd.DataFrame) -> list[str]:
    """Why the build does or does not use each configuration (column production_reason).

    The build's segments are named from their recency, frequency and monetary levels (naming.py and
    seed segment_playbook), so a configuration with other features is not usable as is, whatever its
    rank; one with the same features and another transform is judged by the planted groups when the
    data has them (the only ground truth), and otherwise said to be unchecked.
    """
    production = table.loc[table["is_production"]].iloc[0]
    names = set(RFM_FEATURES)
    reasons = []
    for row in table.itertuples():
        features = set(row.features.split(", "))
        truth, ours = row.ari_planted_groups, production["ari_planted_groups"]
        if row.is_production:
            reasons.append("used by the build" + ("" if row.rank == 1 else
                           f" (rank {row.rank} of {len(table)}): every configuration ranked above it changes the "
                           "features the segment names read or the transform, see their rows"))
        elif row.verdict != "usable":
            reasons.append(f"not used: {row.verdict}")
        elif features != names:
            extra, missing = sorted(features - names), sorted(names - features)
            reasons.append("not used: segment names read recency, frequency and monetary levels (naming.py)"
                           + (f"; {', '.join(extra)} {'has' if len(extra) == 1 else 'have'} no level words" if extra else "")
                           + (f"; it drops {', '.join(missing)}" if missing else ""))
        elif pd.isna(truth) or pd.isna(ours):
            reasons.append(f"not used: same features, {row.transform} transform; no ground truth on this data to "
                           "prefer it by (its rank is by stability alone)")
        elif truth > ours:
            reasons.append(f"not used yet: recovers the planted groups better than the build's log transform "
                           f"(ARI {truth:.3f} vs {ours:.3f}), a candidate to switch to")
        else:
            reasons.append(f"not used: recovers the planted groups worse than the build's log transform "
                           f"(ARI {truth:.3f} vs {ours:.3f})")
    return reasons


def read_planted_groups(planted_groups_path: object, transactions_path: object) -> pd.DataFrame | None:
    """Planted groups of generated data, for the adjusted Rand index columns; None for real data.

    An empty var planted_groups_path means "planted_groups.parquet beside the transactions file, if
    there is one" (what `python -m synthetic_shop.generate` writes); a path given must exist.
    """
    if planted_groups_path:
        path = Path(str(planted_groups_path))
        if not path.exists():
            raise ValueError(f"var planted_groups_path: {path} does not exist")
    else:
        path = Path(str(transactions_path or "")).parent / "planted_groups.parquet"
        if not path.exists():
            return None
    return pd.read_parquet(path, columns=["customer_id", "planted_group"])


#: The columns of each comparison table, for the empty table of a skipped comparison.
_METRIC_COLUMNS = {"n_clusters": "int64", "noise_share": "float64", "silhouette": "float64",
                   "calinski_harabasz": "float64", "davies_bouldin": "float64", "smallest_cluster_share": "float64",
                   "cluster_sizes": "string", "silhouette_sample_size": "int64", "ari_planted_groups": "float64"}
_STABILITY_COLUMNS = {"bootstrap_mean_ari": "float64", "bootstrap_sd_ari": "float64", "bootstrap_resamples": "int64"}
COMPARISON_COLUMNS = {
    "segment_algorithm_comparison": {"algorithm": "string", "parameters": "string", **_METRIC_COLUMNS,
                                     **_STABILITY_COLUMNS, "k": "int64", "is_production": "bool", "customers": "int64"},
    "segment_feature_set_comparison": {"feature_set": "string", "features": "string", "transform": "string", "k": "int64",
                                       **_METRIC_COLUMNS, "top_spender_segment_share": "float64", **_STABILITY_COLUMNS,
                                       "rank": "int64", "verdict": "string", "is_best": "bool",
                                       "is_production": "bool", "customers": "int64", "production_reason": "string"},
}


def comparison_note(model_name: str, k_selection: pd.DataFrame) -> Note | None:
    """The note of a comparison skipped because the chosen k is 1: one segment leaves nothing to compare."""
    if chosen_k(k_selection) >= 2:
        return None
    return Note(model_name, "skipped", "one segment (see segment_k_selection): comparing clusterings needs a "
                                       "chosen k of 2 or more; the table is empty")


def comparison_table(model_name: str, customers: pd.DataFrame, k_selection: pd.DataFrame,
                     settings: Mapping[str, object]) -> pd.DataFrame:
    """One comparison model's table from its refs and its parsed settings (customer_segments.settings):
    the sizes and seeds of :class:`ComparisonSettings`, planted_groups_path and transactions_path.
    Empty, with a note (:func:`comparison_note`), when there is one segment."""
    if comparison_note(model_name, k_selection) is not None:
        return empty_table(COMPARISON_COLUMNS[model_name])
    builders = {"segment_algorithm_comparison": build_algorithm_comparison,
                "segment_feature_set_comparison": build_feature_set_comparison}
    sizes = {field.name: settings[field.name] for field in fields(ComparisonSettings) if field.name != "k"}
    planted = read_planted_groups(settings["planted_groups_path"], settings["transactions_path"])
    return builders[model_name](customers, ComparisonSettings(k=chosen_k(k_selection), **sizes), planted)
