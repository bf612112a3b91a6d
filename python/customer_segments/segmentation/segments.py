"""The customer_segments table: K-means fit plus names, one row per customer."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from customer_segments.segmentation.clustering import fit_kmeans_segments
from customer_segments.segmentation.features import RFM_FEATURES
from customer_segments.segmentation.naming import apply_name_overrides, name_segments
from customer_segments.segmentation.relabel import MAX_CENTROID_SHIFT
from customer_segments.segmentation.selection import chosen_k
from customer_segments.segmentation.validation import segments_to_fit
from customer_segments.settings import sql_identifier

#: The columns of the previous build's table that keeping ids needs.
PREVIOUS_COLUMNS = ("customer_id", "segment_id", *RFM_FEATURES)


def previous_segments(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> pd.DataFrame | None:
    """The customer_segments table as the previous build left it in ``schema``, or None on a first build."""
    # fetchall, not fetchone: DuckDB refuses further work on a connection with a result left open.
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0][0]
    if not exists:
        return None
    columns = ", ".join(PREVIOUS_COLUMNS)
    return con.sql(f"select {columns} from {sql_identifier(schema)}.{sql_identifier(table)}").df()


def customer_segments_table(
    customers: pd.DataFrame,
    k_selection: pd.DataFrame,
    playbook: pd.DataFrame,
    overrides: pd.DataFrame,
    previous: pd.DataFrame | None,
    settings: Mapping[str, object],
) -> pd.DataFrame:
    """The customer_segments model: segment_k_selection's chosen k (capped to what the data can hold),
    ids kept from ``previous`` unless var reset_segment_ids, names from the playbook and the overrides."""
    return build_customer_segments(
        customers,
        playbook,
        n_segments=segments_to_fit(customers, chosen_k(k_selection)),
        random_state=settings["random_state"],
        previous=None if settings["reset_segment_ids"] else previous,
        overrides=overrides,
        max_shift=settings["max_centroid_shift"],
    )


def build_customer_segments(
    customers: pd.DataFrame,
    playbook: pd.DataFrame,
    n_segments: int,
    random_state: int = 42,
    previous: pd.DataFrame | None = None,
    overrides: pd.DataFrame | None = None,
    max_shift: float = MAX_CENTROID_SHIFT,
) -> pd.DataFrame:
    """One row per customer with monetary > 0: customer_id, segment_id, segment_name, segment_label,
    suggested_actions, distance_to_centroid, how the segment got its id (id_source, centroid_shift),
    the raw features and their standardized values (z_*).

    ``previous`` is the previous build's table (None on a first build), ``overrides`` the analyst's
    names per segment id (seed segment_name_overrides).
    """
    fit = fit_kmeans_segments(customers, n_segments=n_segments, random_state=random_state,
                              previous=previous, max_shift=max_shift)
    names = name_segments(fit.centroids, fit.feature_names, playbook, fit.segment_ids)
    names = apply_name_overrides(names, overrides)
    names["id_source"] = fit.id_sources
    names["centroid_shift"] = fit.centroid_shifts
    raw = customers.loc[:, ["customer_id", *RFM_FEATURES]].astype({"customer_id": "int64"})
    table = fit.assignments.merge(
        names[["segment_id", "segment_name", "segment_label", "suggested_actions", "id_source", "centroid_shift"]],
        on="segment_id")
    table = table.merge(raw, on="customer_id", how="left")
    columns = ["customer_id", "segment_id", "segment_name", "segment_label", "suggested_actions",
               "distance_to_centroid", "id_source", "centroid_shift",
               *RFM_FEATURES, *(f"z_{f}" for f in RFM_FEATURES)]
    return table.loc[:, columns].sort_values("customer_id").reset_index(drop=True)
