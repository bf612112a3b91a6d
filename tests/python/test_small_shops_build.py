"""Small shops build and publish: 1, 2, 3, 20 and 200 customers, a single day and a single invoice.

Each case is one `python -m customer_segments.delivery.publish` run (a real `dbt build` of every model
and data test, then the publish, which happens only when every node passed), built once per session, in
the background (conftest.background_build) alongside the suite's other builds.
What a model could not do on so little data is in table build_notes, and its table still exists.
The inputs are made here: a hand-written CSV with only the required columns (the input contract's
one-customer, one-day promise), and synthetic_shop's data cut down, with descriptions dropped or a
country left blank.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import background_build, built
from synthetic_shop.generate import generate_invoice_lines

pytestmark = pytest.mark.dbt

ROOT = Path(__file__).resolve().parents[2]

#: Every model that writes its table empty, with a note 'skipped', when there is a single segment.
ONE_SEGMENT_SKIPS = {"segment_algorithm_comparison", "segment_feature_set_comparison", "segment_feature_importance",
                     "first_purchase_segment_predictions", "segment_classifier_feature_importance",
                     "segment_classifier_model"}


def one_customer_csv(path: Path) -> Path:
    # Only the required columns, snake_case names, one customer, one day (docs/input_contract.md).
    path.write_text("order_id,qty,price,ordered_at,customer\n"
                    "1001,2,3.50,2011-03-01 10:00,17850\n"
                    "1001,1,12.00,2011-03-01 10:00,17850\n", encoding="utf-8")
    return path


def generated(n_customers: int) -> pd.DataFrame:
    return generate_invoice_lines(n_customers=n_customers, seed=42).lines


def without_descriptions(lines: pd.DataFrame) -> pd.DataFrame:
    return lines.drop(columns="Description")


def with_a_blank_country(lines: pd.DataFrame) -> pd.DataFrame:
    blank = lines["CustomerID"] == lines["CustomerID"].dropna().min()
    return lines.assign(Country=lines["Country"].where(~blank, "  "))


def busiest_day(lines: pd.DataFrame) -> pd.DataFrame:
    day = pd.to_datetime(lines["InvoiceDate"]).dt.date
    return lines.loc[day == day.value_counts().index[0]]


def first_invoice(lines: pd.DataFrame) -> pd.DataFrame:
    sales = lines.loc[lines["CustomerID"].notna() & ~lines["InvoiceNo"].astype(str).str.startswith("C")]
    return lines.loc[lines["InvoiceNo"] == sales["InvoiceNo"].iloc[0]]


#: case -> a function writing its input under a directory.
CASES = {
    "1 customer, 1 day, required columns only": lambda d: one_customer_csv(d / "one.csv"),
    "2 customers": lambda d: generated(2),
    "3 customers, no descriptions": lambda d: without_descriptions(generated(3)),
    "20 customers, one blank country": lambda d: with_a_blank_country(generated(20)),
    "200 customers": lambda d: generated(200),
    "a single day": lambda d: busiest_day(generated(200)),
    "a single invoice": lambda d: first_invoice(generated(200)),
}


class Published:
    """A published build of one case: its file, the publish output and a query helper."""

    def __init__(self, path: Path, result: subprocess.CompletedProcess):
        self.path, self.returncode, self.output = path, result.returncode, result.stdout + result.stderr

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def notes(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for model, note in self.query("select model, note from build_notes"):
            found.setdefault(model, set()).add(note)
        return found


def publish(work: Path, data: Path) -> Published:
    published = work / "served" / "customer_segments.duckdb"
    command = [sys.executable, "-m", "customer_segments.delivery.publish",
               "--working", str(work / "customer_segments.build.duckdb"), "--published", str(published),
               "--project-dir", str(ROOT), "--vars", f'{{"transactions_path": "{data}"}}',
               "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "DO_NOT_TRACK": "1"},
                            capture_output=True, text=True, timeout=900)
    return Published(published, result)


def case_publisher(i: int, case: str):
    """The background build of one case: its input written under its own directory, then published."""
    def publish_case(tmp_path_factory) -> Published:
        work = tmp_path_factory.mktemp(f"small_shop_{i}")
        data = CASES[case](work)
        if isinstance(data, pd.DataFrame):
            data.to_parquet(work / "lines.parquet", index=False)
            data = work / "lines.parquet"
        return publish(work, data)

    publish_case.__qualname__ = publish_case.__name__ = f"publish_small_shop_{i}"
    return background_build("builds")(publish_case)


#: case -> its background build.
PUBLISHERS = {case: case_publisher(i, case) for i, case in enumerate(CASES)}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Published]:
    return {case: built(publisher, tmp_path_factory) for case, publisher in PUBLISHERS.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_every_model_and_test_passes_and_the_build_is_published(builds, case):
    build = builds[case]
    assert build.returncode == 0, build.output[-5000:]
    assert build.path.exists()
    assert "ERROR=0" in build.output and "SKIP=0" in build.output
    # Every noted model still wrote its table, and a 'skipped' one is empty.
    for model, notes in build.notes().items():
        rows = build.query(f"select count(*) from {model}")[0][0]
        if "skipped" in notes:
            assert rows == 0, f"{case}: {model} is noted skipped but has {rows} rows"


@pytest.mark.parametrize("case", ["1 customer, 1 day, required columns only", "2 customers",
                                  "3 customers, no descriptions", "a single invoice"])
def test_too_few_customers_for_the_k_rule_are_one_segment_and_the_rest_is_noted(builds, case):
    build = builds[case]
    notes = build.notes()
    assert notes["segment_k_selection"] == {"one segment"}
    assert build.query("select k, chosen_by from segment_k_selection where is_chosen") == [(1, "fallback: one segment")]
    assert build.query("select count(distinct segment_id) from customer_segments") == [(1,)]
    assert {model for model, n in notes.items() if "skipped" in n} >= ONE_SEGMENT_SKIPS
    assert "customer_purchase_forecast" in notes or build.query("select count(*) from customer_purchase_forecast")[0][0]
    detail = build.query("select detail from build_notes where model = 'segment_k_selection'")[0][0]
    assert "the k rule needs at least 13" in detail


def test_one_customer_is_one_segment_with_every_figure_and_the_contract_placeholders(builds):
    build = builds["1 customer, 1 day, required columns only"]
    assert build.query("select customer_id, country, frequency, monetary from customer_rfm") == [
        (17850, "(unknown)", 1, 19.0)]
    assert build.query("select segment_id, distance_to_centroid from customer_segments") == [(1, 0.0)]
    # Without descriptions every code is one explicit uncategorised product.
    assert build.query("select distinct category_id, category_name from product_categories") == [(0, "Uncategorised")]
    assert build.notes()["product_categories"] == {"uncategorised"}
    assert build.notes()["customer_purchase_forecast"] == {"skipped"}


def test_without_descriptions_products_are_uncategorised_with_a_note(builds):
    build = builds["3 customers, no descriptions"]
    assert build.query("select distinct category_id, category_name from product_categories") == [(0, "Uncategorised")]
    assert build.query("select count(*) from customer_category_shares where category_id <> 0") == [(0,)]
    assert "uncategorised" in build.notes()["product_categories"]


def test_a_blank_country_is_unknown_like_an_absent_one(builds):
    build = builds["20 customers, one blank country"]
    assert build.query("select count(*) from customer_rfm where country is null") == [(0,)]
    assert build.query("select count(*) from customer_rfm where country = '(unknown)'") == [(1,)]
    assert ("(unknown)",) in build.query("select distinct country from segment_by_country")


def test_twenty_customers_skip_what_their_segments_cannot_support(builds):
    build = builds["20 customers, one blank country"]
    notes = build.notes()
    # The k rule runs on 20 customers; the classifier's cross-validation needs 5 customers per segment.
    assert build.query("select count(*) from segment_k_selection where k >= 2") != [(0,)]
    assert notes["first_purchase_segment_predictions"] == {"skipped"}
    assert build.query("select count(*) from segment_classifier_model") == [(0,)]


def test_two_hundred_customers_are_a_normal_build_but_for_the_churn_gate_and_new_customer_split(builds):
    build = builds["200 customers"]
    assert build.query("select count(*) from customer_rfm")[0][0] == 200
    assert build.query("select count(*) from segment_profiles")[0][0] >= 2
    assert build.query("select count(*) from segment_algorithm_comparison")[0][0] == 5
    assert build.query("select count(*) from customer_purchase_forecast")[0][0] == 200
    assert build.query("select count(*) from segment_classifier_model")[0][0] == 1
    assert build.query("select count(distinct origin_date) from forecast_backtest_evaluation") == [(3,)]
    # A year of 200 generated customers does not identify BG/NBD's dropout (the churn gate); and their
    # first purchases gather at the window's start: 2 of the 200 first buy after the cutoff with their
    # whole horizon inside the data, too few to test the new-customer methods on.
    assert build.notes() == {"customer_purchase_forecast": {"probability_alive absent"},
                             "new_customer_model": {"skipped"}, "new_customer_predictions": {"skipped"}}
    assert build.query("select count(probability_alive) from customer_purchase_forecast") == [(0,)]
    detail = build.query("select detail from build_notes where model = 'new_customer_predictions'")[0][0]
    assert detail.startswith("2 customers in the 'test' part of the time split") and "needs 10" in detail
    assert build.query("select count(*) from new_customer_prediction_evaluation") == [(0,)]


def test_a_single_day_has_one_recency_and_no_forecast(builds):
    build = builds["a single day"]
    assert build.query("select count(distinct recency_days) from customer_rfm") == [(1,)]
    notes = build.notes()
    assert notes["forecast_backtest_predictions"] == notes["customer_purchase_forecast"] == {"skipped"}
    # Every segment is constant on recency: its ANOVA F is NULL rather than float noise.
    assert "anova_f NULL" in notes["segment_feature_importance"]
    assert build.query("select count(*) from segment_feature_importance "
                       "where feature = 'recency_days' and anova_f is not null") == [(0,)]
    assert "var forecast_backtest_origins" in build.query(
        "select detail from build_notes where model = 'forecast_backtest_predictions'")[0][0]
    assert build.query("select count(*) from forecast_backtest_evaluation") == [(0,)]


def test_the_report_and_exports_work_on_every_small_shop(builds, tmp_path):
    from customer_segments.delivery.exports import write_exports
    from customer_segments.delivery.report import write_report

    for i, (case, build) in enumerate(builds.items()):
        page = write_report(build.path, tmp_path / f"report_{i}.html").read_text(encoding="utf-8")
        assert ("What this build skipped" in page) == bool(build.notes()), case
        assert write_exports(build.path, tmp_path / f"exports_{i}", None), case
