"""The build_notes table: every note of the build, from the rules that made the models skip or reduce
(see customer_segments.notes for the design)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from customer_segments.notes import notes_table
from customer_segments.prediction.backtest import backtest_note
from customer_segments.prediction.forecast import forecast_notes as purchase_forecast_notes
from customer_segments.prediction.horizon_segments import horizon_segments
from customer_segments.prediction.new_customer import new_customer_notes
from customer_segments.prediction.skipped import classifier_notes
from customer_segments.products.categories import categories_note
from customer_segments.segmentation.comparison import comparison_note
from customer_segments.segmentation.importance import feature_importance_note
from customer_segments.segmentation.selection import k_selection_note


def build_notes(k_selection: pd.DataFrame, segments: pd.DataFrame, products: pd.DataFrame,
                first_purchase_features: pd.DataFrame, purchase_summary: pd.DataFrame, classifier_cutoff: str,
                settings: Mapping[str, object], new_customer_outcomes: pd.DataFrame,
                backtest_methods: pd.DataFrame, purchase_forecast: pd.DataFrame) -> pd.DataFrame:
    """One row per note (model, note, detail), sorted; the inputs are the refs the noted models read
    (``classifier_cutoff``: build_dates' classifier_cutoff_date, ISO, as the classifier models read it),
    and, for the forecast's notes, what the forecast models wrote: ``backtest_methods`` the distinct
    method, origin_date and is_chosen_method of forecast_backtest_predictions, ``purchase_forecast`` (a
    row of) customer_purchase_forecast."""
    return notes_table([
        k_selection_note(k_selection),
        comparison_note("segment_algorithm_comparison", k_selection),
        comparison_note("segment_feature_set_comparison", k_selection),
        feature_importance_note(segments),
        categories_note(products, settings["n_product_categories"]),
        *classifier_notes(first_purchase_features, horizon_segments(new_customer_outcomes, segments), classifier_cutoff,
                          settings["random_state"], settings["classifier_sample_size"]),
        *forecast_notes(purchase_summary, backtest_methods, purchase_forecast),
        *new_customer_notes(new_customer_outcomes),
    ])


def forecast_notes(summary: pd.DataFrame, backtest_methods: pd.DataFrame, purchase_forecast: pd.DataFrame) -> list:
    """The notes of forecast_backtest_predictions and customer_purchase_forecast, read off the tables they
    wrote (nothing is fitted again)."""
    chosen = backtest_methods.loc[backtest_methods["is_chosen_method"].astype(bool), "method"].unique()
    return [backtest_note(summary.loc[summary["origin_role"].isin(["backtest", "training"])], backtest_methods),
            *purchase_forecast_notes(summary, str(chosen[0]) if len(chosen) else None, purchase_forecast)]
