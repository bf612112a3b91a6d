"""The build's dates come from the data's own window (model build_dates), a var still wins, and table
build_info says what the build read. The rule is checked against a reference written here, on generated
data moved to other windows, each built only up to build_dates."""

from __future__ import annotations

import datetime
import json
import os
import threading

import duckdb
import pandas as pd
import pytest

from conftest import Build, background_build, built, run_dbt
from customer_segments import __version__
from synthetic_shop.generate import write_dataset

pytestmark = pytest.mark.dbt

DATE_COLUMNS = ("first_invoice_date", "last_invoice_date", "as_of_date", "classifier_cutoff_date")
VALID = "line_status not in ('unparseable', 'implausible_date', 'implausible_value')"


def reference_horizon_days(first: datetime.date, as_of: datetime.date, horizon_var: int = 365) -> int:
    """Var new_customer_horizon_days, or half the window (whole days, rounded down, at least 1) when shorter."""
    return min(horizon_var, max(1, (as_of - first).days // 2))


def reference_cutoff_date(first: datetime.date, as_of: datetime.date) -> datetime.date:
    """The first of the month on or before the day two thirds of the way (whole days, rounded down) from
    ``first`` to the last day a first purchase can have a complete horizon (``as_of`` - the horizon); that
    day itself when its month starts on or before ``first``."""
    last = as_of - datetime.timedelta(days=reference_horizon_days(first, as_of))
    point = first + datetime.timedelta(days=2 * (last - first).days // 3)
    month_start = point.replace(day=1)
    return month_start if month_start > first else point


def test_the_reference_gives_todays_dates_on_the_real_window_and_its_shifts():
    # The first-purchase cutoff: horizons of 187 days, complete by 2011-06-06, two thirds there 2011-04-04.
    assert reference_cutoff_date(datetime.date(2010, 12, 1), datetime.date(2011, 12, 10)) == datetime.date(2011, 4, 1)
    assert reference_cutoff_date(datetime.date(2023, 12, 1), datetime.date(2024, 12, 10)) == datetime.date(2024, 4, 1)
    assert reference_cutoff_date(datetime.date(2010, 12, 2), datetime.date(2011, 12, 11)) == datetime.date(2011, 4, 1)
    assert reference_cutoff_date(datetime.date(2011, 3, 5), datetime.date(2011, 3, 21)) == datetime.date(2011, 3, 10)


_small_lines_lock = threading.Lock()
_small_lines: list[pd.DataFrame] = []


def small_lines(tmp_path_factory) -> pd.DataFrame:
    """The generated lines every window is made from (written once, by the first build that needs them)."""
    with _small_lines_lock:
        if not _small_lines:
            paths = write_dataset(tmp_path_factory.mktemp("dates-data"), n_customers=200, seed=3)
            _small_lines.append(pd.read_parquet(paths["invoice_lines"]))
        return _small_lines[0].copy()


#: Inputs moved to other windows: (name, how the lines are changed, vars). The one-day shift is built on
#: the real data (test_real_shifted.py).
WINDOWS = {
    "as_generated": (lambda lines: lines, {}),
    "thirteen_years_later": (lambda lines: lines.assign(InvoiceDate=lines["InvoiceDate"] + pd.DateOffset(years=13)), {}),
    "one_month": (lambda lines: lines[(lines["InvoiceDate"] >= "2011-03-05") & (lines["InvoiceDate"] < "2011-03-21")], {}),
    "vars_set": (lambda lines: lines, {"classifier_cutoff_date": "2011-05-02", "as_of_date": "2011-11-01"}),
}


def window_builder(name: str):
    """The background build, up to build_dates, of the lines moved to one window."""
    def build_window(tmp_path_factory) -> Build:
        change, dbt_vars = WINDOWS[name]
        work = tmp_path_factory.mktemp(f"dates-{name}")
        path = work / "invoice_lines.parquet"
        change(small_lines(tmp_path_factory)).to_parquet(path, index=False)
        db_path = work / "segments.duckdb"
        result = run_dbt(["build", "--select", "+build_dates", "--indirect-selection", "cautious"], db_path, work,
                         {"transactions_path": str(path), **dbt_vars})
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        return Build(db_path, path, result.returncode, result.stdout)

    build_window.__qualname__ = build_window.__name__ = f"build_window_{name}"
    return background_build("window_builds")(build_window)


#: window -> its background build.
BUILDERS = {name: window_builder(name) for name in WINDOWS}


@pytest.fixture(scope="module")
def window_builds(tmp_path_factory) -> dict[str, Build]:
    return {name: built(builder, tmp_path_factory) for name, builder in BUILDERS.items()}


def dates_of(build: Build) -> dict[str, object]:
    with duckdb.connect(str(build.db_path), read_only=True) as con:
        frame = con.execute("select * from build_dates").df()
    assert len(frame) == 1
    return {column: (value.date() if isinstance(value, pd.Timestamp) else value)
            for column, value in frame.iloc[0].items()}


@pytest.mark.parametrize("name", [name for name, (_, dbt_vars) in WINDOWS.items() if not dbt_vars])
def test_unset_dates_follow_the_rule_on_every_window(window_builds, name):
    build = window_builds[name]
    first, last = build.query(f"select cast(min(invoiced_at) as date), cast(max(invoiced_at) as date) "
                              f"from stg_retail__invoice_lines where {VALID}")[0]
    dates = dates_of(build)
    assert (dates["first_invoice_date"], dates["last_invoice_date"]) == (first, last)
    assert dates["as_of_date"] == last + datetime.timedelta(days=1)
    assert dates["classifier_cutoff_date"] == reference_cutoff_date(first, dates["as_of_date"])
    assert dates["new_customer_horizon_days"] == reference_horizon_days(first, dates["as_of_date"])
    assert dates["as_of_date_is_derived"] and dates["classifier_cutoff_date_is_derived"]


def test_the_generated_window_and_its_shifts_give_the_real_datas_dates(window_builds):
    # The generator's window is the real data's, so the derived dates are today's defaults.
    assert dates_of(window_builds["as_generated"])["classifier_cutoff_date"] == datetime.date(2011, 4, 1)
    assert dates_of(window_builds["thirteen_years_later"])["classifier_cutoff_date"] == datetime.date(2024, 4, 1)
    one_month = dates_of(window_builds["one_month"])
    assert one_month["first_invoice_date"] < one_month["classifier_cutoff_date"] < one_month["as_of_date"]


def test_a_var_that_is_set_wins_and_says_so(window_builds):
    dates = dates_of(window_builds["vars_set"])
    assert dates["classifier_cutoff_date"] == datetime.date(2011, 5, 2) and not dates["classifier_cutoff_date_is_derived"]
    assert dates["as_of_date"] == datetime.date(2011, 11, 1) and not dates["as_of_date_is_derived"]
    # The unset horizon is derived from the window the set as-of date leaves.
    assert dates["new_customer_horizon_days"] == reference_horizon_days(dates["first_invoice_date"],
                                                                        datetime.date(2011, 11, 1))


def test_build_info_says_what_the_build_read(generated_build):
    with duckdb.connect(str(generated_build.db_path), read_only=True) as con:
        info = con.execute("select * from build_info").df()
        dates = con.execute(f"select cast(min(invoiced_at) as date), cast(max(invoiced_at) as date) "
                            f"from stg_retail__invoice_lines where {VALID}").fetchone()
        accounted = con.execute("select sum(input_lines) from line_accounting").fetchone()[0]
        as_of = con.execute("select any_value(as_of_date) from customer_rfm").fetchone()[0]
    assert len(info) == 1
    row = info.iloc[0]
    path = generated_build.data_path
    assert row["input_path"] == os.path.abspath(path)
    assert row["input_file_bytes"] == os.path.getsize(path)
    assert row["input_lines"] == accounted == len(pd.read_parquet(path))
    assert (row["first_invoice_date"].date(), row["last_invoice_date"].date()) == dates
    assert row["as_of_date"].date() == as_of and row["as_of_date_is_derived"]
    assert json.loads(row["column_mapping"]) == {
        "InvoiceNo": "invoice_no", "StockCode": "stock_code", "Description": "description", "Quantity": "quantity",
        "InvoiceDate": "invoiced_at", "UnitPrice": "unit_price", "CustomerID": "customer_id", "Country": "country"}
    # The test build sets only the input file.
    assert json.loads(row["vars_not_default"]) == {"transactions_path": str(path)}
    assert row["project_version"] == __version__
    started = row["build_started_at"].to_pydatetime()
    assert abs(datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - started) < datetime.timedelta(hours=3)
