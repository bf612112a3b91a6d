"""Acceptance of the products, predictions and forecast marts on the real UCI Online Retail data."""

import duckdb
import pandas as pd
import pytest

from customer_segments.prediction.first_purchase import prepare_features
from customer_segments.prediction.scoring import load_artifact, score_first_invoice

pytestmark = [pytest.mark.dbt, pytest.mark.real_data]


def test_every_merchandise_code_has_a_named_category(real_build):
    sizes = real_build.query("""
        select category_id, category_name, count(*) as codes from product_categories
        group by all order by category_id""")
    print("\n".join(f"{i:>2} {name:<40} {n}" for i, name, n in sizes))
    learned = [row for row in sizes if 1 <= row[0] <= 20]
    assert len(learned) == 20 and all(n > 0 for *_, n in learned)
    assert real_build.scalar("select count(*) from product_categories where category_id = 0") < 0.05 * sum(
        n for *_, n in sizes)
    # The override seed is applied: the games it lists form their own category.
    assert real_build.scalar("select count(*) from product_categories where category_name = 'Toys / Games'") == 9


def test_classifiers_beat_the_majority_baseline_on_real_customers(real_build):
    scores = {(m, e): b for m, e, b in real_build.query("""
        select model_name, evaluation, balanced_accuracy from segment_classifier_evaluation
        where metric_scope = 'overall' and split = 'test'""")}
    print(scores)
    segments = real_build.scalar("select count(*) from segment_profiles")
    for evaluation in ("cross_validation", "time_split"):
        baseline = scores[("majority_baseline", evaluation)]
        assert baseline == pytest.approx(1 / segments)
        assert scores[("logistic_regression", evaluation)] > baseline + 0.05
        assert scores[("hist_gradient_boosting", evaluation)] > baseline + 0.05


def test_the_real_backtest_quotes_every_method_at_three_origins_and_uses_the_best(real_build):
    evaluation = pd.DataFrame(real_build.query("""
        select strftime(origin_date, '%Y-%m-%d') as origin, method, horizon_days, purchases_mae, spend_mae,
            actual_purchases, mean_purchases_mae, is_chosen_method
        from forecast_backtest_evaluation"""),
        columns=["origin", "method", "horizon", "mae", "spend_mae", "actual", "score", "chosen"])
    print(evaluation)
    assert sorted(evaluation["origin"].unique()) == ["2011-05-02", "2011-07-15", "2011-09-27"]
    assert (evaluation["horizon"] == 74).all() and len(evaluation) == 12
    scores = evaluation.groupby("method")["score"].first()
    assert set(evaluation.loc[evaluation["chosen"], "method"]) == {scores.idxmin()}
    assert real_build.query("select distinct method from customer_purchase_forecast") == [(scores.idxmin(),)]
    # The finding, kept honest: on spend the naive past rate beats BG/NBD + Gamma-Gamma everywhere.
    spend = evaluation.pivot(index="origin", columns="method", values="spend_mae")
    assert (spend["naive_past_rate"] < spend["bg_nbd"]).all()
    # Actual purchases at the latest origin: distinct purchase invoices of customers who had bought before it.
    assert evaluation.loc[evaluation["origin"] == "2011-09-27", "actual"].iloc[0] == real_build.scalar("""
        select count(distinct invoice_no) from stg_retail__invoice_lines
        where line_status = 'purchase' and invoiced_at >= timestamp '2011-09-27' and invoiced_at < timestamp '2011-12-10'
          and customer_id in (select customer_id from customer_rfm where first_purchase_at < timestamp '2011-09-27')""")


def test_a_real_first_invoice_is_scored_as_the_build_saw_it(real_build):
    customer_id, invoice_no = real_build.query(
        "select customer_id, first_invoice_no from first_purchase_features order by customer_id limit 1")[0]
    # The first invoice's lines, postage included, and the refunds dated at or before it.
    lines = pd.DataFrame(real_build.query(f"""
        select invoice_no, stock_code, quantity, unit_price, invoiced_at, country
        from stg_retail__invoice_lines
        where invoice_no = '{invoice_no}'
           or (customer_id = {customer_id} and line_status = 'cancellation'
               and invoiced_at <= (select first_purchase_at from first_purchase_features where customer_id = {customer_id}))
        order by line_id"""),
        columns=["invoice_no", "stock_code", "quantity", "unit_price", "invoiced_at", "country"])
    scored = score_first_invoice(real_build.db_path, lines)
    segment_names = {row[0] for row in real_build.query("select segment_name from segment_profiles")}
    assert set(scored["probabilities"]) == segment_names
    assert sum(scored["probabilities"].values()) == pytest.approx(1.0)
    # The saved pipeline's probabilities on the build's own features of that customer.
    artifact = load_artifact(real_build.db_path)
    with duckdb.connect(str(real_build.db_path), read_only=True) as con:
        row = con.execute(f"select * from first_purchase_features where customer_id = {customer_id}").df()
    expected = artifact.pipeline.predict_proba(prepare_features(row, artifact.feature_columns))[0]
    names = dict(zip(artifact.segment_ids, artifact.segment_names))
    assert scored["probabilities"] == pytest.approx({names[s]: p for s, p in zip(artifact.pipeline.classes_, expected)})


def test_new_customer_methods_on_the_real_time_split(real_build):
    # 187-day horizons (half the 374-day window), trained on 2,132 customers, tested on 620.
    evaluation = pd.DataFrame(real_build.query(
        "select method, split, customers, horizon_days, purchases_mae, spend_mae, repeat_brier_score, repeat_auc "
        "from new_customer_prediction_evaluation"),
        columns=["method", "split", "customers", "horizon", "purchases_mae", "spend_mae", "brier", "auc"])
    print(evaluation)
    test = evaluation.loc[evaluation["split"] == "test"].set_index("method")
    assert set(evaluation["horizon"]) == {187} and set(test["customers"]) == {620}
    for baseline in ("training_mean", "basket_value"):
        for metric in ("purchases_mae", "spend_mae", "brier"):
            assert test.loc["gradient_boosting", metric] < test.loc[baseline, metric], (baseline, metric)
    assert test.loc["gradient_boosting", "auc"] > 0.55
