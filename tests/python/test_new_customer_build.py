"""First purchase -> the horizon after it: new_customer_outcomes, new_customer_predictions, its evaluation
and the segment classifier's horizon labels, on a real dbt build of the generated data."""

from __future__ import annotations

import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from customer_segments.prediction.horizon_segments import horizon_segments
from customer_segments.prediction.new_customer import METHODS, PREDICTION_COLUMNS
from customer_segments.prediction.scoring import score_first_invoice

pytestmark = pytest.mark.dbt


def frame(build, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(build.db_path), read_only=True) as con:
        return con.execute(sql).df()


def test_one_row_per_customer_and_method_with_actuals_only_for_complete_horizons(generated_build):
    predictions = frame(generated_build, "select * from new_customer_predictions")
    customers = generated_build.scalar("select count(*) from customer_rfm")
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert len(predictions) == customers * len(METHODS)
    assert set(predictions["method"]) == set(METHODS)
    assert not predictions.duplicated(["customer_id", "method"]).any()
    opened = predictions["split"] == "open"
    assert predictions.loc[opened, ["actual_purchases", "actual_spend"]].isna().all().all()
    assert predictions.loc[~opened, ["actual_purchases", "actual_spend"]].notna().all().all()
    assert set(predictions["split"]) == {"train", "test", "open"}
    # The generated data's window is the real data's: 374 days, so half of it.
    assert set(predictions["horizon_days"]) == {187}
    assert ((predictions["probability_repeat"] >= 0) & (predictions["probability_repeat"] <= 1)).all()


def test_no_trained_or_tested_customer_has_an_incomplete_horizon(generated_build):
    # From the lines themselves: a horizon is complete when it ends by the day after the last valid line.
    rows = frame(generated_build, """
        select p.split, f.first_purchase_at, p.horizon_days,
               (select max(invoiced_at) from stg_retail__invoice_lines
                where line_status in ('purchase', 'cancellation')) as last_line_at
        from new_customer_predictions as p
        inner join first_purchase_features as f using (customer_id)
        where p.method = 'training_mean'""")
    ends = rows["first_purchase_at"] + pd.to_timedelta(rows["horizon_days"], unit="D")
    data_end = pd.Timestamp(rows["last_line_at"].max().date() + datetime.timedelta(days=1))
    closed = rows["split"] != "open"
    assert (ends[closed] <= data_end).all()
    assert (ends[~closed] > data_end).all()
    cutoff = pd.Timestamp(generated_build.scalar("select classifier_cutoff_date from build_dates"))
    assert (rows.loc[rows["split"] == "train", "first_purchase_at"] < cutoff).all()
    assert (rows.loc[rows["split"] == "test", "first_purchase_at"] >= cutoff).all()
    # The scoring models are fitted on every complete horizon, no more.
    assert set(generated_build.query("select training_customers from new_customer_model")[0]) == {int(closed.sum())}


def test_actuals_match_an_independent_count_from_the_lines(generated_build):
    actual = frame(generated_build, """
        select customer_id, actual_purchases, actual_spend from new_customer_predictions
        where method = 'training_mean' and split <> 'open'""").set_index("customer_id")
    # Staged lines grouped into invoices here, cancellations' matched value from the netting.
    independent = frame(generated_build, """
        with first as (
            select customer_id, first_invoice_no, first_purchase_at,
                   first_purchase_at + to_days((select new_customer_horizon_days from build_dates)) as ends
            from first_purchase_features),
        invoices as (
            select customer_id, invoice_no, min(invoiced_at) as at, sum(quantity * unit_price) as value
            from stg_retail__invoice_lines where line_status = 'purchase' group by all),
        refunds as (
            select m.customer_id, m.invoiced_at as at, m.matched_quantity * m.unit_price as value
            from int_cancellation_lines_matched as m)
        select first.customer_id,
               (select count(*) from invoices as i where i.customer_id = first.customer_id
                and i.invoice_no <> first.first_invoice_no and i.at >= first.first_purchase_at and i.at < first.ends)
                   as purchases,
               coalesce((select sum(i.value) from invoices as i where i.customer_id = first.customer_id
                and i.invoice_no <> first.first_invoice_no and i.at >= first.first_purchase_at and i.at < first.ends), 0)
               - coalesce((select sum(r.value) from refunds as r where r.customer_id = first.customer_id
                and r.at > first.first_purchase_at and r.at < first.ends), 0) as spend
        from first
        where first.customer_id in (select customer_id from new_customer_predictions where split <> 'open')
        order by hash(first.customer_id) limit 300""").set_index("customer_id")
    joined = independent.join(actual, how="inner")
    assert len(joined) == 300
    assert joined["purchases"].sum() > 0
    np.testing.assert_array_equal(joined["actual_purchases"].astype("int64"), joined["purchases"].astype("int64"))
    np.testing.assert_allclose(joined["actual_spend"], joined["spend"].astype("float64"), atol=0.005)


def test_the_evaluation_recomputes_from_the_predictions(generated_build):
    predictions = frame(generated_build, "select * from new_customer_predictions where split <> 'open'")
    evaluation = frame(generated_build, "select * from new_customer_prediction_evaluation").set_index(["method", "split"])
    assert set(evaluation.index) == {(m, s) for m in METHODS for s in ("train", "test")}
    for (method, split), rows in predictions.groupby(["method", "split"]):
        row = evaluation.loc[(method, split)]
        assert row["customers"] == len(rows)
        for target in ("purchases", "spend"):
            actual = rows[f"actual_{target}"].astype("float64")
            error = rows[f"predicted_{target}"] - actual
            assert row[f"{target}_mae"] == pytest.approx(error.abs().mean())
            assert row[f"{target}_rmse"] == pytest.approx(np.sqrt((error ** 2).mean()))
            # abs 1e-9: the training mean's error on its own training part sums to 0 but for rounding
            # (-1.3e-12 in SQL's decimal sums against -2e-17 in pandas' floats).
            assert row[f"{target}_aggregate_error"] == pytest.approx(error.sum() / actual.sum(), abs=1e-9)
        repeated = rows["actual_purchases"].astype("int64") > 0
        assert row["repeat_brier_score"] == pytest.approx(((rows["probability_repeat"] - repeated) ** 2).mean())
        if repeated.all() or not repeated.any():
            assert pd.isna(row["repeat_auc"])
        else:
            assert row["repeat_auc"] == pytest.approx(roc_auc_score(repeated, rows["probability_repeat"]))


def test_the_full_model_beats_the_training_mean_out_of_sample(generated_build):
    evaluation = frame(generated_build, "select * from new_customer_prediction_evaluation where split = 'test'")
    errors = evaluation.set_index("method")
    print(errors.T)
    assert errors.loc["gradient_boosting", "spend_mae"] < errors.loc["training_mean", "spend_mae"]
    assert errors.loc["gradient_boosting", "spend_rmse"] < errors.loc["training_mean", "spend_rmse"]


def test_horizon_labels_use_the_segmentation_s_own_transform_and_centroids(generated_build):
    segments = frame(generated_build, "select * from customer_segments")
    # A customer's whole-data RFM, put where the horizon RFM goes, gets back their own segment.
    as_outcomes = segments.assign(is_horizon_complete=True).rename(columns={
        "recency_days": "horizon_recency_days", "frequency": "horizon_frequency", "monetary": "horizon_monetary"})
    labels = horizon_segments(as_outcomes, segments).set_index("customer_id")["segment_id"]
    own = segments.set_index("customer_id")["segment_id"]
    assert (labels.loc[own.index] == own).mean() > 0.99
    # The classifier learns the horizon segment of every complete horizon, not the final segment.
    predictions = frame(generated_build, """
        select customer_id, actual_segment_id from first_purchase_segment_predictions
        where model_name = 'majority_baseline' and evaluation = 'cross_validation'""").set_index("customer_id")
    expected = horizon_segments(frame(generated_build, "select * from new_customer_outcomes"), segments)
    pd.testing.assert_series_equal(predictions["actual_segment_id"].sort_index(),
                                   expected.set_index("customer_id")["segment_id"].sort_index(), check_names=False)
    final = own.reindex(predictions.index)
    assert (final != predictions["actual_segment_id"]).any()


def test_scoring_a_customer_s_first_invoice_gives_the_table_s_open_predictions(generated_build):
    customer_id, invoice_no = generated_build.query("""
        select customer_id, first_invoice_no from new_customer_outcomes where split = 'open'
        and customer_id not in (select customer_id from stg_retail__invoice_lines where line_status = 'cancellation')
        order by customer_id limit 1""")[0]
    lines = pd.DataFrame(generated_build.query(f"""
        select invoice_no, stock_code, quantity, unit_price, invoiced_at, country from stg_retail__invoice_lines
        where invoice_no = '{invoice_no}' order by line_id"""),
        columns=["invoice_no", "stock_code", "quantity", "unit_price", "invoiced_at", "country"])
    scored = score_first_invoice(generated_build.db_path, lines)
    assert scored["horizon_days"] == 187 and set(scored["predictions"]) == set(METHODS)
    table = frame(generated_build, f"select * from new_customer_predictions where customer_id = {customer_id}")
    for method, row in table.set_index("method").iterrows():
        for column in ("predicted_purchases", "predicted_spend", "probability_repeat"):
            assert scored["predictions"][method][column] == pytest.approx(row[column], rel=1e-9)
    assert scored["segment_name"] in scored["probabilities"]
