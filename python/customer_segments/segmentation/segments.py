"""The customer_segments table: K-means fit, ids (kept only in a continuation), names that fit the
median member, one row per customer."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from customer_segments.segmentation.clustering import fit_kmeans_segments
from customer_segments.segmentation.features import RFM_FEATURES
from customer_segments.segmentation.naming import apply_name_overrides, median_member_levels, name_segments
from customer_segments.segmentation.relabel import CONTINUATION_KEY, FIRST_BUILD, MAX_CENTROID_SHIFT, continuation
from customer_segments.segmentation.selection import chosen_k
from customer_segments.segmentation.validation import segments_to_fit
from customer_segments.settings import sql_identifier

#: The columns of the previous build's table that keeping ids needs (first_purchase_at tells whether
#: this build continues it; tables of releases before it lack the column, and the ids then restart).
PREVIOUS_COLUMNS = ("customer_id", "segment_id", "first_purchase_at", *RFM_FEATURES)


def previous_segments(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> pd.DataFrame | None:
    """The customer_segments table as the previous build left it in ``schema``, or None on a first build."""
    # fetchall, not fetchone: DuckDB refuses further work on a connection with a result left open.
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0][0]
    if not exists:
        return None
    present = {row[0] for row in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table]).fetchall()}
    columns = ", ".join(c for c in PREVIOUS_COLUMNS if c in present)
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
    ids kept from ``previous`` when this build continues it and var reset_segment_ids is false, names
    from the playbook and the overrides."""
    return build_customer_segments(
        customers,
        playbook,
        n_segments=segments_to_fit(customers, chosen_k(k_selection)),
        random_state=settings["random_state"],
        previous=previous,
        overrides=overrides,
        max_shift=settings["max_centroid_shift"],
        reset_ids=settings["reset_segment_ids"],
    )


def build_customer_segments(
    customers: pd.DataFrame,
    playbook: pd.DataFrame,
    n_segments: int,
    random_state: int = 42,
    previous: pd.DataFrame | None = None,
    overrides: pd.DataFrame | None = None,
    max_shift: float = MAX_CENTROID_SHIFT,
    reset_ids: bool = False,
) -> pd.DataFrame:
    """One row per customer with monetary > 0: customer_id, segment_id, segment_name, segment_label,
    suggested_actions, distance_to_centroid, membership_margin and membership_rank, how the segment
    got its id (id_source, centroid_shift), first_purchase_at, the raw features and their
    standardized values (z_*).

    ``customers`` are customer_rfm rows (customer_id, first_purchase_at, the features); ``previous``
    is the previous build's table (None on a first build): its ids are kept only when this build
    continues it (:func:`customer_segments.segmentation.relabel.continuation`) and not ``reset_ids``;
    ``overrides`` the analyst's names per segment id (seed segment_name_overrides).
    """
    origin = continuation(previous, customers, reset=reset_ids)
    fit = fit_kmeans_segments(customers, n_segments=n_segments, random_state=random_state,
                              previous=previous if origin.continues else None, max_shift=max_shift,
                              fresh_source=origin.restart_source or FIRST_BUILD)
    raw = customers.loc[:, [*CONTINUATION_KEY, *RFM_FEATURES]].astype({"customer_id": "int64"})
    table = fit.assignments.merge(raw, on="customer_id", how="left")
    names = name_segments(median_member_levels(table, fit.feature_names), playbook, fit.feature_names)
    names = apply_name_overrides(names, overrides)
    names = names.merge(pd.DataFrame({"segment_id": fit.segment_ids, "id_source": fit.id_sources,
                                      "centroid_shift": fit.centroid_shifts}), on="segment_id")
    table = table.merge(
        names[["segment_id", "segment_name", "segment_label", "suggested_actions", "id_source", "centroid_shift"]],
        on="segment_id")
    columns = ["customer_id", "segment_id", "segment_name", "segment_label", "suggested_actions",
               "distance_to_centroid", "membership_margin", "membership_rank", "id_source", "centroid_shift",
               "first_purchase_at", *RFM_FEATURES, *(f"z_{f}" for f in RFM_FEATURES)]
    return table.loc[:, columns].sort_values("customer_id").reset_index(drop=True)
