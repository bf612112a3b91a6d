"""Ids with a meaning: kept (Hungarian matching of centroids) only when a build continues the previous one."""

import numpy as np
import pandas as pd
import pytest

from customer_segments.segmentation.clustering import fit_kmeans_segments
from customer_segments.segmentation.relabel import (
    FIRST_BUILD,
    MATCHED,
    NEW_SEGMENT,
    RESTARTED_BY_VAR,
    RESTARTED_NO_DATES,
    continuation,
    continuing_share,
    match_previous_ids,
)
from customer_segments.segmentation.segments import build_customer_segments
from segmentation_data import planted_customers

PLAYBOOK = pd.read_csv(__import__("pathlib").Path(__file__).parents[2] / "seeds" / "segment_playbook.csv")

PREVIOUS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])


def test_matching_follows_centroids_not_their_order():
    moved = PREVIOUS[[2, 0, 1]] + 0.1
    ids, shifts = match_previous_ids(moved, PREVIOUS, np.array([7, 3, 5]))
    assert ids.tolist() == [5, 7, 3]
    assert np.allclose(shifts, np.sqrt(0.02))


def test_a_centroid_that_moved_too_far_gets_a_fresh_id():
    moved = np.array([[0.1, 0.0], [4.0, 4.0], [0.0, 2.1]])
    ids, shifts = match_previous_ids(moved, PREVIOUS, np.array([1, 2, 3]), max_shift=0.5)
    assert ids.tolist() == [1, 4, 3]
    assert np.isnan(shifts[1]) and shifts[0] == pytest.approx(0.1)


def test_more_segments_get_fresh_ids_and_fewer_keep_a_subset():
    more = np.vstack([PREVIOUS, [[5.0, 5.0]]])
    assert match_previous_ids(more, PREVIOUS, np.array([1, 2, 3]))[0].tolist() == [1, 2, 3, 4]
    fewer = PREVIOUS[[1, 2]]
    assert match_previous_ids(fewer, PREVIOUS, np.array([1, 2, 3]))[0].tolist() == [2, 3]


def test_previous_centroids_are_validated():
    with pytest.raises(ValueError, match="previous ids must be unique"):
        match_previous_ids(PREVIOUS, PREVIOUS, np.array([1, 1, 2]))
    with pytest.raises(ValueError, match="expected"):
        match_previous_ids(PREVIOUS, np.zeros((3, 3)), np.array([1, 2, 3]))


def test_ids_survive_new_customers_and_follow_the_previous_numbering():
    customers = planted_customers()
    first = fit_kmeans_segments(customers, n_segments=4)
    assert set(first.id_sources) == {FIRST_BUILD}
    # An analyst's dashboards know the previous build's numbering, whatever it was: reverse it.
    previous = customers.merge(first.assignments[["customer_id", "segment_id"]], on="customer_id")
    previous["segment_id"] = 5 - previous["segment_id"]
    grown = planted_customers(per_group=20, seed=1, first_id=20000)
    with_new_data = fit_kmeans_segments(
        pd.concat([customers, grown], ignore_index=True), n_segments=4, previous=previous)
    assert set(with_new_data.id_sources) == {MATCHED}
    assert (with_new_data.centroid_shifts < 0.5).all()
    kept = with_new_data.assignments.merge(previous[["customer_id", "segment_id"]], on="customer_id",
                                           suffixes=("", "_before"))
    assert (kept["segment_id"] == kept["segment_id_before"]).mean() > 0.99
    assert set(with_new_data.assignments["segment_id"]) == {1, 2, 3, 4}


def test_split_segments_are_new_and_numbered_after_the_previous_ones():
    customers = planted_customers()
    first = fit_kmeans_segments(customers, n_segments=3)
    previous = customers.merge(first.assignments[["customer_id", "segment_id"]], on="customer_id")
    again = fit_kmeans_segments(customers, n_segments=4, previous=previous)
    # Three planted groups were whole at k = 3 and one pair was merged: at k = 4 the whole ones keep
    # their ids, the two halves of the merged one are new segments, and the merged id retires.
    sources = dict(zip(again.segment_ids.tolist(), again.id_sources))
    kept = [i for i, source in sources.items() if source == MATCHED]
    new = [i for i, source in sources.items() if source == NEW_SEGMENT]
    assert len(kept) + len(new) == 4 and len(new) >= 1
    assert set(kept) <= {1, 2, 3} and min(new) == 4
    assert set(again.assignments["segment_id"]) == set(again.segment_ids.tolist())


def test_same_data_again_gives_the_same_ids_and_assignments():
    customers = planted_customers()
    first = fit_kmeans_segments(customers, n_segments=4)
    previous = customers.merge(first.assignments[["customer_id", "segment_id"]], on="customer_id")
    again = fit_kmeans_segments(customers.sample(frac=1, random_state=3), n_segments=4, previous=previous)
    pd.testing.assert_frame_equal(first.assignments, again.assignments)
    assert np.allclose(again.centroid_shifts, 0) and set(again.id_sources) == {MATCHED}


def previous_table(customers: pd.DataFrame, ids_from: int = 0) -> pd.DataFrame:
    """customer_segments as a first build of ``customers`` leaves it, ids shifted by ``ids_from``."""
    table = build_customer_segments(customers, PLAYBOOK, n_segments=4)
    return table.assign(segment_id=table["segment_id"] + ids_from)


def test_a_build_continues_the_previous_one_when_most_customers_keep_their_first_purchase():
    customers = planted_customers()
    previous = previous_table(customers)
    assert continuing_share(previous, customers) == 1.0
    # Another shop whose customer numbers are the same: first purchases differ, nothing continues.
    other = customers.assign(first_purchase_at=customers["first_purchase_at"] + pd.Timedelta(minutes=1))
    assert continuing_share(previous, other) == 0.0
    # 79% of the previous customers still there is under the bar; 80% is enough.
    kept_79 = customers.iloc[: int(len(customers) * 0.79)]
    kept_80 = customers.iloc[: int(len(customers) * 0.80)]
    assert not continuation(previous, kept_79).continues
    assert continuation(previous, kept_79).restart_source == (
        "restarted: not a continuation (78.7% of the previous build's customers present with the same "
        "first purchase, under 80%)")
    assert continuation(previous, kept_80).continues
    assert continuation(None, customers).restart_source == FIRST_BUILD
    assert continuation(previous, customers, reset=True).restart_source == RESTARTED_BY_VAR
    assert continuation(previous.drop(columns="first_purchase_at"), customers).restart_source == RESTARTED_NO_DATES


def test_another_data_set_restarts_the_ids_at_one_and_says_why():
    customers = planted_customers()
    previous = previous_table(customers, ids_from=8)  # ids 9..12, as drifting builds left them
    again = build_customer_segments(customers, PLAYBOOK, n_segments=4, previous=previous)
    assert set(again["segment_id"]) == {9, 10, 11, 12}
    assert set(again["id_source"]) == {MATCHED}
    other = customers.assign(first_purchase_at=customers["first_purchase_at"] - pd.Timedelta(days=400))
    restarted = build_customer_segments(other, PLAYBOOK, n_segments=4, previous=previous)
    assert set(restarted["segment_id"]) == {1, 2, 3, 4}
    assert restarted["centroid_shift"].isna().all()
    assert set(restarted["id_source"]) == {
        "restarted: not a continuation (0.0% of the previous build's customers present with the same first "
        "purchase, under 80%)"}
    by_var = build_customer_segments(customers, PLAYBOOK, n_segments=4, previous=previous, reset_ids=True)
    assert set(by_var["segment_id"]) == {1, 2, 3, 4} and set(by_var["id_source"]) == {RESTARTED_BY_VAR}
    # Same customers, same fit: a restart renumbers, it does not move anyone.
    pd.testing.assert_frame_equal(by_var.drop(columns=["segment_id", "id_source", "centroid_shift"]),
                                  again.drop(columns=["segment_id", "id_source", "centroid_shift"]))
