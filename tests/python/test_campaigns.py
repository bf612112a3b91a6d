"""Campaign holdouts on the generated build: groups drawn per segment by a keyed hash, with each
segment's control share the var's, the same draw on a rebuild and another for another campaign; the
power table's arithmetic checked against the formulas it documents."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from conftest import Build, run_dbt

pytestmark = pytest.mark.dbt

CAMPAIGN_MODELS = ["campaign_groups", "campaign_power", "campaign_groups_control_share_per_segment",
                   "campaign_outcomes", "campaign_evaluation"]
Z_SUM = 1.959964 + 0.841621


def half_up(x: float) -> int:
    """DuckDB's round: halves away from zero (Python's round takes halves to even)."""
    return math.floor(x + 0.5)


def build_campaign(build: Build, work, dbt_vars: dict) -> None:
    result = run_dbt(["build", "--select", *CAMPAIGN_MODELS], build.db_path, work,
                     {"transactions_path": str(build.data_path), **dbt_vars})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def groups(build: Build) -> dict[int, str]:
    return dict(build.query("select customer_id, campaign_group from campaign_groups"))


def test_no_campaign_named_means_no_groups_but_a_power_table(generated_build):
    assert generated_build.scalar("select count(*) from campaign_evaluation") == 0
    assert generated_build.scalar("select count(*) from campaign_groups") == 0
    assert generated_build.scalar("select count(*) from campaign_power") == generated_build.scalar(
        "select count(*) from segment_profiles")


def test_groups_are_stratified_deterministic_and_keyed_by_campaign(copy_of_build, tmp_path):
    build_campaign(copy_of_build, tmp_path / "a", {"campaign_name": "spring sale's", "campaign_control_share": 0.2})
    first = groups(copy_of_build)
    assert len(first) == copy_of_build.scalar("select count(*) from customer_segments")
    per_segment = copy_of_build.query(
        "select segment_id, count(*), count(*) filter (where campaign_group = 'control') "
        "from campaign_groups group by segment_id")
    for _segment, customers, control in per_segment:
        assert control == half_up(customers * 0.2)
    assert copy_of_build.scalar("select any_value(campaign) from campaign_groups") == "spring sale's"

    build_campaign(copy_of_build, tmp_path / "b", {"campaign_name": "spring sale's", "campaign_control_share": 0.2})
    assert groups(copy_of_build) == first
    build_campaign(copy_of_build, tmp_path / "c", {"campaign_name": "autumn", "campaign_control_share": 0.2})
    other = groups(copy_of_build)
    moved = sum(first[c] != other[c] for c in first)
    assert moved > 0.1 * len(first), "another campaign must draw other customers"


def test_power_follows_its_formulas(generated_build):
    rows = generated_build.query(
        "select customers, control_customers, treatment_customers, baseline_repeat_rate, baseline_spend_sd, "
        "min_detectable_rate_effect, min_detectable_spend_effect, customers_needed_for_target_lift, "
        "target_relative_lift from campaign_power")
    assert rows
    for n, n_c, n_t, p, sd, mde_rate, mde_spend, needed, lift in rows:
        assert n_c == half_up(n * 0.1) and n_t == n - n_c
        if 0 < p < 1:
            assert mde_rate == pytest.approx(Z_SUM * math.sqrt(p * (1 - p) * (1 / n_t + 1 / n_c)))
            assert needed == math.ceil(Z_SUM**2 * p * (1 - p) * (1 / 0.1 + 1 / 0.9) / (p * lift) ** 2)
        else:
            assert mde_rate is None and needed is None
        if sd > 0:
            assert mde_spend == pytest.approx(Z_SUM * sd * math.sqrt(1 / n_t + 1 / n_c))


def test_a_campaign_is_sent_to_treatment_only_and_evaluated_from_its_start(copy_of_build, tmp_path):
    from customer_segments.delivery.exports import ALL_SEGMENTS_STEM, CONTROL_STEM, write_exports

    build_campaign(copy_of_build, tmp_path / "build", {"campaign_name": "winback", "campaign_start_date": "2011-10-01"})
    out = tmp_path / "exports"
    write_exports(copy_of_build.db_path, out, key=None, all_in_one=True)
    control = set(copy_of_build.query("select customer_id from campaign_groups where campaign_group = 'control'"))
    control_ids = {c for (c,) in control}
    sent = pd.concat([pd.read_parquet(path) for path in out.glob("segment_*.parquet")])
    held = pd.read_parquet(out / f"{CONTROL_STEM}.parquet")
    assert control_ids and set(held["customer_id_raw"]) == control_ids
    assert not control_ids & set(sent["customer_id_raw"])
    assert set(sent["campaign_group"]) == {"treatment"} and set(sent["campaign"]) == {"winback"}
    assert len(sent) + len(held) == copy_of_build.scalar("select count(*) from customer_segments")
    # The file of all segments is a send list too: the treatment group of every segment, no control customer.
    together = pd.read_parquet(out / f"{ALL_SEGMENTS_STEM}.parquet")
    assert sorted(together["customer_id_raw"]) == sorted(sent["customer_id_raw"])
    assert not control_ids & set(pd.read_csv(out / f"{ALL_SEGMENTS_STEM}.csv")["customer_id_raw"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["campaign"], manifest["control_customers"], manifest["all_segments"]["customers"]) == \
        ("winback", len(held), len(sent))

    # Outcomes are the invoices from the start day to the as-of date; the evaluation is their comparison.
    bought = copy_of_build.scalar(
        "select count(distinct customer_invoices.customer_id) from int_customer_invoices as customer_invoices "
        "inner join campaign_groups using (customer_id) "
        "where invoice_type = 'purchase' and invoiced_at >= date '2011-10-01'")
    assert bought == copy_of_build.scalar("select count(*) filter (where purchased) from campaign_outcomes") > 0
    rate = dict(copy_of_build.query(
        "select campaign_group, avg(purchased::int) from campaign_outcomes group by all"))
    overall = copy_of_build.query(
        "select treatment_mean, control_mean, lift, ci_low, ci_high, p_value from campaign_evaluation "
        "where scope = 'all' and outcome = 'repeat_purchase_rate'")[0]
    assert overall[:3] == pytest.approx((rate["treatment"], rate["control"], rate["treatment"] - rate["control"]))
    assert overall[3] < overall[2] < overall[4] and 0 <= overall[5] <= 1
    segments = copy_of_build.scalar("select count(*) from segment_profiles")
    assert copy_of_build.scalar("select count(*) from campaign_evaluation") == 2 * (segments + 1)


def test_exports_without_a_campaign_have_no_campaign_columns(generated_build, tmp_path):
    from customer_segments.delivery.exports import CONTROL_STEM, write_exports

    write_exports(generated_build.db_path, tmp_path, key=None)
    sent = pd.concat([pd.read_parquet(path) for path in tmp_path.glob("segment_*.parquet")])
    assert "campaign_group" not in sent.columns and not (tmp_path / f"{CONTROL_STEM}.csv").exists()
    assert len(sent) == generated_build.scalar("select count(*) from customer_segments")
