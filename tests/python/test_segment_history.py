"""Segments over time: customer_segment_history, segment_migration, segment_history_summary and the
accumulating customer_segment_assignments, on real dbt builds of the generated data.

The generated data has known answers over time: planted group lapsed_one_timer buys only in the first
120 days (2010-12-01 to 2011-03-31), so with inactive_after_days 180 every one of them is inactive from
the month-end 2011-09-30 on; recent_low_value buys only in the last 60 days, so it arrives as `new`
at the month-ends 2011-10-31 and 2011-11-30.
"""

from __future__ import annotations

import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import Build, run_dbt
from customer_segments.segmentation.features import FeatureTransform
from customer_segments.segmentation.history import (
    assign_segments,
    fitted_transform,
    history_segment_ids,
    segment_centroids,
)

FEATURES = "customer_id, first_purchase_at, last_purchase_at, recency_days, frequency, monetary, avg_order_value, " \
           "tenure_days, gross_spend, cancelled_value, r_score, f_score, m_score, rfm_cell, rfm_segment"
MONTH_ENDS = [datetime.date(2010, 12, 31) + pd.offsets.MonthEnd(i) for i in range(12)]


def planted(build: Build, group: str) -> str:
    """SQL: the customer ids of a planted group of the build's generated data."""
    path = build.data_path.parent / "planted_groups.parquet"
    return f"(select customer_id from read_parquet('{path}') where planted_group = '{group}')"


# ---------------------------------------------------------------- the assignment, without dbt

def _customers(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": np.arange(1, n + 1), "recency_days": rng.integers(1, 300, n),
                         "frequency": rng.integers(1, 20, n), "monetary": rng.gamma(2, 300, n)})


def _segments(customers: pd.DataFrame) -> pd.DataFrame:
    z = FeatureTransform().fit_transform(customers)
    ids = np.where(z[:, 2] > 0, 1, 2)
    return customers.assign(segment_id=ids, segment_name=np.where(ids == 1, "High", "Low"),
                            z_recency_days=z[:, 0], z_frequency=z[:, 1], z_monetary=z[:, 2])


def test_rows_go_to_the_nearest_centroid_and_no_net_spend_to_none():
    customers = _customers()
    segments = _segments(customers)
    ids, centroids = segment_centroids(segments)
    assert ids.tolist() == [1, 2]
    np.testing.assert_allclose(centroids[0], segments.loc[segments.segment_id == 1, ["z_recency_days", "z_frequency",
                                                                                       "z_monetary"]].mean())
    rows = customers.assign(monetary=customers["monetary"].where(customers.index != 3, 0.0))
    assigned = assign_segments(rows, fitted_transform(customers, segments), ids, centroids)
    z = FeatureTransform().fit(customers).transform_frame(rows.loc[rows.monetary > 0])
    expected = ids[np.argmin(((z[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)]
    assert assigned.loc[rows.monetary > 0, "segment_id"].tolist() == expected.tolist()
    assert pd.isna(assigned.loc[3, "segment_id"]) and np.isnan(assigned.loc[3, "distance_to_centroid"])
    out = history_segment_ids(rows.assign(month_end=datetime.date(2011, 1, 31)), customers, segments)
    assert out["segment_id"].tolist() == assigned["segment_id"].tolist()


def test_no_segments_and_no_months_give_no_segment():
    customers = _customers()
    rows = customers.assign(month_end=datetime.date(2011, 1, 31))
    out = history_segment_ids(rows, customers, _segments(customers).iloc[:0])
    assert len(out) == len(rows) and out["segment_id"].isna().all()
    assert history_segment_ids(rows.iloc[:0], customers, _segments(customers)).empty


def test_a_transform_that_is_not_the_segmentation_s_is_refused():
    customers = _customers()
    segments = _segments(customers)
    segments["z_monetary"] *= 1.01
    with pytest.raises(ValueError, match="differs from customer_segments' z_\\* values"):
        fitted_transform(customers, segments)


# ---------------------------------------------------------------- real builds

@pytest.mark.dbt
def test_a_month_end_holds_what_customer_rfm_gives_as_of_the_day_after_it(generated_build, tmp_path):
    """Features, scores ranked within the month and the RFM segment equal customer_rfm's in a build with
    as_of_date = 2011-10-01, row for row."""
    db = tmp_path / "as_of.duckdb"
    dbt_vars = {"transactions_path": str(generated_build.data_path), "as_of_date": "2011-10-01"}
    for command in (["seed"], ["run", "--select", "+customer_rfm"]):
        result = run_dbt(command, db, tmp_path, dbt_vars)
        assert result.returncode == 0, result.stdout[-3000:]
    with_as_of = Build(db, generated_build.data_path, 0, "")
    history = generated_build.query(f"select {FEATURES} from customer_segment_history "
                                    "where month_end = date '2011-09-30' order by customer_id")
    assert len(history) > 2000
    assert history == with_as_of.query(f"select {FEATURES} from customer_rfm order by customer_id")


@pytest.mark.dbt
def test_month_ends_and_rows(generated_build):
    months = generated_build.query("select month_end, count(*) from customer_segment_history group by 1 order by 1")
    assert [m for m, _ in months] == [d.date() for d in MONTH_ENDS]
    # One row per customer with a purchase started on or before the month-end.
    month_list = ", ".join(f"date '{d.date()}'" for d in MONTH_ENDS)
    expected = generated_build.query(
        f"select month_end, count(*) from (select unnest([{month_list}]) as month_end) as months "
        "inner join customer_rfm on cast(customer_rfm.first_purchase_at as date) <= months.month_end "
        "group by 1 order by 1")
    assert months == expected


@pytest.mark.dbt
def test_the_build_s_own_features_get_customer_segments_segments(generated_build):
    """The history's model is customer_segments': its customers' current features map to their segments."""
    customers = pd.DataFrame(generated_build.query("select customer_id, recency_days, frequency, monetary, as_of_date "
                                                   "from customer_rfm"),
                             columns=["customer_id", "recency_days", "frequency", "monetary", "month_end"])
    with duckdb.connect(str(generated_build.db_path), read_only=True) as con:
        segments = con.sql("select * from customer_segments").df()
        rfm = con.sql("select * from customer_rfm").df()
    out = history_segment_ids(customers, rfm, segments).merge(segments[["customer_id", "segment_id"]], on="customer_id")
    assert len(out) == len(segments) and (out["segment_id_x"] == out["segment_id_y"]).all()


@pytest.mark.dbt
def test_a_group_that_stops_buying_becomes_inactive_at_the_known_month(generated_build):
    lapsed = planted(generated_build, "lapsed_one_timer")
    states = dict(generated_build.query(
        f"select month_end, count(*) filter (where recency_days > 180) / count(*) from customer_segment_history "
        f"where customer_id in {lapsed} group by 1"))
    assert all(states[d.date()] == 1 for d in MONTH_ENDS[9:]), states   # from 2011-09-30
    assert all(states[d.date()] == 0 for d in MONTH_ENDS[:5]), states   # up to 2011-04-30
    # segment_migration and the summary count exactly those customers as inactive.
    inactive = generated_build.query("select month_end, count(*) from customer_segment_history "
                                     "where recency_days > 180 group by 1 order by 1")
    assert inactive == generated_build.query("select month_end, sum(customers) from segment_migration "
                                             "where to_state = 'inactive' group by 1 order by 1")
    assert inactive == generated_build.query("select month_end, customers from segment_history_summary "
                                             "where state = 'inactive' and customers > 0 order by 1")
    # Once inactive they stay so: every lapsed customer who buys no more stays in the state.
    assert generated_build.scalar("select min(stay_share) from segment_history_summary "
                                  "where state = 'inactive' and month_end >= date '2011-10-31'") > 0.95


@pytest.mark.dbt
def test_a_group_that_starts_buying_arrives_as_new(generated_build):
    recent = planted(generated_build, "recent_low_value")
    firsts = generated_build.query(f"select min(month_end), count(*) from customer_segment_history "
                                   f"where customer_id in {recent} group by customer_id")
    assert {first for first, _ in firsts} <= {datetime.date(2011, 10, 31), datetime.date(2011, 11, 30)}
    # New customers of a month are the customers whose first month-end it is.
    new = generated_build.query("select month_end, count(*) from (select customer_id, min(month_end) as month_end "
                                "from customer_segment_history group by 1) group by 1 order by 1")
    assert new == generated_build.query("select month_end, sum(customers) from segment_migration "
                                        "where from_state = 'new' group by 1 order by 1")
    shares = generated_build.query("select round(sum(share_of_from_state), 9) from segment_migration "
                                   "group by month_end, from_state")
    assert {share for (share,) in shares} == {1.0}


@pytest.mark.dbt
def test_inactivity_is_a_var(copy_of_build, tmp_path):
    result = run_dbt(["run", "--select", "customer_segment_history+"], copy_of_build.db_path,
                     tmp_path, {"transactions_path": str(copy_of_build.data_path), "inactive_after_days": 30})
    assert result.returncode == 0, result.stdout[-3000:]
    inactive = copy_of_build.query("select month_end, count(*) from customer_segment_history "
                                   "where recency_days > 30 group by 1 order by 1")
    assert inactive == copy_of_build.query("select month_end, count(*) from customer_segment_history "
                                           "where state = 'inactive' group by 1 order by 1")
    assert inactive == copy_of_build.query("select month_end, customers from segment_history_summary "
                                           "where state = 'inactive' and customers > 0 order by 1")


@pytest.mark.dbt
def test_assignments_accumulate_one_set_per_build(copy_of_build, tmp_path):
    """Every invocation that builds the model adds its assignments under its own key (its start), the key
    build_info gets in the same invocation; the earlier sets stay as they were."""
    def builds() -> list[tuple]:
        return copy_of_build.query("select build_started_at, count(*) from customer_segment_assignments group by 1 "
                                   "order by 1")

    first = builds()
    segmented = copy_of_build.scalar("select count(*) from customer_segments")
    assert len(first) == 1 and first[0][1] == segmented
    dbt_vars = {"transactions_path": str(copy_of_build.data_path)}
    for select in (["build_info", "customer_segment_assignments"], ["customer_segment_assignments"]):
        result = run_dbt(["run", "--select", *select], copy_of_build.db_path, tmp_path, dbt_vars)
        assert result.returncode == 0, result.stdout[-3000:]
        if select[0] == "build_info":
            assert builds()[-1][0] == copy_of_build.scalar("select build_started_at from build_info")
    later = builds()
    assert len(later) == 3 and later[0] == first[0] and all(count == segmented for _, count in later)
    assert first[0][0] < later[1][0] < later[2][0]
