"""The rules that make a model skip or reduce on too little data, each with the note it gives
(fast: no dbt; test_small_shops_build.py builds the small shops)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import f_classif

from customer_segments.notes import Note, empty_table, notes_table
from customer_segments.prediction.clv import fit_or_reason
from customer_segments.segmentation.importance import anova_f
from customer_segments.segmentation.selection import build_k_selection, k_range_for, k_selection_note


def customers(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": np.arange(1, n + 1), "recency_days": rng.integers(1, 300, n),
                         "frequency": rng.integers(1, 20, n), "monetary": rng.gamma(2.0, 200.0, n)})


def test_the_k_range_is_capped_to_the_customers_and_empty_below_what_stability_needs():
    assert k_range_for(2, 10, 500).k_values == range(2, 11)
    assert k_range_for(2, 10, 500).note is None
    capped = k_range_for(2, 20, 15)
    assert capped.k_values == range(2, 15) and "capped to 2..14" in capped.note
    assert k_range_for(2, 10, 12).k_values == range(0)
    assert "needs at least 13" in k_range_for(2, 10, 12).note


def test_too_few_customers_are_one_chosen_segment_with_a_note():
    table = build_k_selection(customers(5))
    assert table[["k", "is_chosen", "chosen_by"]].values.tolist() == [[1, True, "fallback: one segment"]]
    assert table["bootstrap_mean_ari"].item() == 1.0 and table["smallest_cluster_share"].item() == 1.0
    note = k_selection_note(table)
    assert (note.model, note.note) == ("segment_k_selection", "one segment")
    assert "5 distinct customer(s)" in note.detail


def test_no_candidate_k_falls_back_to_one_segment_beside_the_evaluated_k():
    # Uniform noise whose every partition is unstable (bootstrap ARI under 0.8 for k = 2..6 with this
    # seed), so no k passes the rule's first step.
    rng = np.random.default_rng(4)
    noise = pd.DataFrame({"customer_id": np.arange(1, 41), "recency_days": rng.uniform(1, 300, 40),
                          "frequency": rng.uniform(1, 20, 40), "monetary": rng.uniform(10, 900, 40)})
    table = build_k_selection(noise, k_min=2, k_max=6)
    assert (table.loc[table["k"] > 1, "bootstrap_mean_ari"] < 0.8).all()
    assert table.loc[table["is_chosen"], ["k", "chosen_by"]].values.tolist() == [[1, "fallback: one segment"]]
    assert sorted(table["k"]) == [1, 2, 3, 4, 5, 6]
    assert "set var n_segments to force a k" in k_selection_note(table).detail


def test_a_stable_k_is_chosen_by_the_rule_without_a_note():
    rng = np.random.default_rng(5)
    noise = pd.DataFrame({"customer_id": np.arange(1, 41), "recency_days": rng.uniform(1, 300, 40),
                          "frequency": rng.uniform(1, 20, 40), "monetary": rng.uniform(10, 900, 40)})
    table = build_k_selection(noise, k_min=2, k_max=6)
    assert table["chosen_by"].iloc[0] == "rule" and k_selection_note(table) is None


def test_anova_f_is_scikit_learns_where_defined_and_nan_where_segments_have_no_spread():
    rng = np.random.default_rng(1)
    segments = np.repeat([1, 2, 3], 20)
    spread = rng.normal(segments, 1.0)
    constant = segments.astype(float) * 0.1  # every segment constant: within-segment variance nil
    X = np.column_stack([spread, constant])
    f = anova_f(X, segments)
    assert f[0] == f_classif(X, segments)[0][0]
    assert np.isnan(f[1])


def test_a_forecast_needs_two_repeat_customers_and_says_so():
    summary = pd.DataFrame({"customer_id": [1, 2], "repeat_purchases": [1, 0], "first_to_last_purchase_days": [3, 0],
                            "observed_days": [10, 5], "mean_repeat_value": [20.0, None]})
    fits, reason = fit_or_reason(summary)
    assert fits is None and "at least 2 customers with repeat purchases" in reason


def test_notes_are_sorted_and_an_empty_table_keeps_its_columns_and_types():
    table = notes_table([Note("b", "skipped", "why"), None, Note("a", "one segment", "why")])
    assert table["model"].tolist() == ["a", "b"]
    assert list(notes_table([]).columns) == ["model", "note", "detail"]
    empty = empty_table({"k": "int64", "name": "string", "pickle": "bytes"})
    assert empty.empty and str(empty["k"].dtype) == "int64" and str(empty["name"].dtype) == "string"
