"""The build_notes table: every note of the build, from the rules that made the models skip or reduce
(see customer_segments.notes for the design)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from customer_segments.notes import notes_table
from customer_segments.prediction.backtest import backtest_note, backtest_predictions, choose_method, evaluation_metrics
from customer_segments.prediction.forecast import forecast_or_reason
from customer_segments.prediction.horizon_segments import horizon_segments
from customer_segments.prediction.new_customer import new_customer_notes
from customer_segments.prediction.skipped import classifier_notes
from customer_segments.products.categories import categories_note
from customer_segments.segmentation.comparison import comparison_note
from customer_segments.segmentation.importance import feature_importance_note
from customer_segments.segmentation.selection import k_selection_note


def build_notes(k_selection: pd.DataFrame, segments: pd.DataFrame, products: pd.DataFrame,
                first_purchase_features: pd.DataFrame, purchase_summary: pd.DataFrame, classifier_cutoff: str,
                settings: Mapping[str, object], new_customer_outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per note (model, note, detail), sorted; the inputs are the refs the noted models read
    (``classifier_cutoff``: build_dates' classifier_cutoff_date, ISO, as the classifier models read it)."""
    return notes_table([
        k_selection_note(k_selection),
        comparison_note("segment_algorithm_comparison", k_selection),
        comparison_note("segment_feature_set_comparison", k_selection),
        feature_importance_note(segments),
        categories_note(products, settings["n_product_categories"]),
        *classifier_notes(first_purchase_features, horizon_segments(new_customer_outcomes, segments), classifier_cutoff,
                          settings["random_state"], settings["classifier_sample_size"]),
        *forecast_notes(purchase_summary, settings),
        *new_customer_notes(new_customer_outcomes),
    ])


def forecast_notes(summary: pd.DataFrame, settings: Mapping[str, object]) -> list:
    """The notes of forecast_backtest_predictions and customer_purchase_forecast, from the functions that
    build them, on the same rows of customer_purchase_summary."""
    backtest = summary.loc[summary["origin_role"].isin(["backtest", "training"])]
    method = choose_method(evaluation_metrics(backtest_predictions(backtest)))
    _, notes = forecast_or_reason(summary.loc[summary["origin_role"].isin(["forecast", "backtest"])], method,
                                  settings["forecast_horizon_days"], settings["clv_horizon_days"],
                                  settings["clv_annual_discount_rate"])
    return [backtest_note(backtest), *notes]
