"""Segmentation marts on a real `dbt build` of the generated data: chosen k, comparisons, stable ids."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from conftest import run_dbt
from customer_segments.segmentation.stability import STABLE_ARI
from synthetic_shop.generate import write_dataset
from test_pipeline_e2e import MIN_ADJUSTED_RAND_INDEX

pytestmark = pytest.mark.dbt

SEGMENTATION_MARTS = ("segment_k_selection", "segment_algorithm_comparison", "segment_feature_set_comparison",
                      "segment_feature_importance")
#: The generator plants this many customer groups.
PLANTED_GROUPS = 4


def test_segmentation_marts_are_tables(generated_build):
    kinds = dict(generated_build.query(
        "select table_name, table_type from information_schema.tables where table_schema = 'main'"))
    for mart in SEGMENTATION_MARTS:
        assert kinds.get(mart) == "BASE TABLE", mart


def test_the_rule_chooses_one_k_in_range_and_finds_the_planted_groups(generated_build):
    rows = generated_build.query("select k, is_chosen, chosen_by, selection_reason from segment_k_selection order by k")
    assert [r[0] for r in rows] == list(range(2, 11))
    chosen = [r for r in rows if r[1]]
    assert len(chosen) == 1
    k, _, chosen_by, reason = chosen[0]
    print(f"chosen k={k}: {reason}")
    assert (k, chosen_by) == (PLANTED_GROUPS, "rule")
    assert generated_build.scalar("select count(*) from segment_profiles") == k
    assert generated_build.scalar("select count(distinct segment_id) from customer_segments") == k


def test_chosen_configuration_is_stable_and_recovers_the_planted_groups(generated_build):
    table = pd.DataFrame(generated_build.query(
        "select algorithm, ari_planted_groups, bootstrap_mean_ari, n_clusters, parameters from segment_algorithm_comparison"),
        columns=["algorithm", "ari", "stability", "n_clusters", "parameters"]).set_index("algorithm")
    print(table.to_string())
    assert set(table.index) == {"kmeans", "ward", "gmm", "dbscan", "hdbscan"}
    assert table["ari"].notna().all()  # planted groups found beside the generated file
    # The production choice (K-means, chosen k): stable above the justified bar and close to the truth.
    assert table.loc["kmeans", "stability"] >= STABLE_ARI
    assert table.loc["kmeans", "ari"] >= MIN_ADJUSTED_RAND_INDEX
    assert "fitted on 2000 sampled" in table.loc["ward", "parameters"]


def test_log_beats_raw_features_against_the_planted_truth(generated_build):
    ari = dict(((s, t), a) for s, t, a in generated_build.query(
        "select feature_set, transform, ari_planted_groups from segment_feature_set_comparison"))
    assert ari[("rfm", "log")] > ari[("rfm", "raw")] + 0.1
    assert generated_build.scalar("select count(*) from segment_feature_set_comparison where is_best") == 1


def test_every_segment_has_a_top_driver(generated_build):
    drivers = generated_build.query(
        "select segment_id, feature from segment_feature_importance where is_top_driver order by segment_id")
    assert [d[0] for d in drivers] == list(range(1, PLANTED_GROUPS + 1))
    assert generated_build.scalar("select min(surrogate_tree_fidelity) from segment_feature_importance") > 0.8


def test_n_segments_var_overrides_the_rule_and_is_validated(copy_of_build, tmp_path):
    base = {"transactions_path": str(copy_of_build.data_path)}
    bad = run_dbt(["run", "--select", "segment_k_selection"], copy_of_build.db_path, tmp_path, {**base, "n_segments": 12})
    assert bad.returncode != 0
    assert "var n_segments must be 'auto' or a whole number from k_min to k_max (2 to 10), got 12" in bad.stdout
    good = run_dbt(["run", "--select", "segment_k_selection"], copy_of_build.db_path, tmp_path, {**base, "n_segments": 6})
    assert good.returncode == 0, good.stdout[-3000:]
    assert copy_of_build.query("select k, chosen_by from segment_k_selection where is_chosen") == [(6, "var n_segments")]


def append_new_customers(lines_path, out_dir, n_customers: int = 300) -> str:
    """The generated lines plus a month's worth of new customers (another generated set, ids offset)."""
    new = pd.read_parquet(write_dataset(out_dir / "new", n_customers=n_customers, seed=7)["invoice_lines"])
    new["CustomerID"] = new["CustomerID"] + 100_000
    new["InvoiceNo"] = new["InvoiceNo"].str.replace(r"\d+", lambda m: str(int(m.group()) + 1_000_000), regex=True)
    combined = pd.concat([pd.read_parquet(lines_path), new], ignore_index=True)
    path = out_dir / "grown.parquet"
    combined.to_parquet(path, index=False)
    return str(path)


def test_rebuild_after_new_data_keeps_segment_ids(copy_of_build, tmp_path):
    # Dashboards know the previous build's numbering, whatever it is: reverse it, so that keeping ids
    # cannot happen by the first build's monetary ordering.
    with duckdb.connect(str(copy_of_build.db_path)) as con:
        con.execute(f"update customer_segments set segment_id = {PLANTED_GROUPS + 1} - segment_id")
        before = dict(con.execute("select customer_id, segment_id from customer_segments").fetchall())
    grown = append_new_customers(copy_of_build.data_path, tmp_path)
    # The segments and their profiles (and what they read) are what a continuation keeps; the rest of the
    # project only reads them.
    result = run_dbt(["build", "--select", "+segment_profiles", "--indirect-selection", "cautious"],
                     copy_of_build.db_path, tmp_path, {"transactions_path": grown})
    assert result.returncode == 0, result.stdout[-5000:]
    after = dict(copy_of_build.query("select customer_id, segment_id from customer_segments"))
    assert len(after) > len(before)
    kept = sum(after[c] == s for c, s in before.items()) / len(before)
    print(f"customers keeping their segment id after new data: {kept:.3%}")
    assert kept > 0.95
    sources = copy_of_build.query("select distinct id_source from segment_profiles")
    assert sources == [("kept from the previous build",)]
    assert copy_of_build.scalar("select max(centroid_shift) from segment_profiles") <= 0.5


def test_segmentation_tests_fail_when_their_rule_breaks(copy_of_build, tmp_path):
    with duckdb.connect(str(copy_of_build.db_path)) as con:
        con.execute("update segment_k_selection set is_chosen = true where k = 9")
        con.execute("update segment_algorithm_comparison set algorithm = 'kmeans' where algorithm = 'ward'")
        con.execute("delete from segment_feature_importance where is_top_driver and segment_id = 1")
    # eager: also the tests that read another model too (every model is built in this file).
    result = run_dbt(["test", "--select", "segment_k_selection", "segment_algorithm_comparison", "segment_feature_importance",
                      "--indirect-selection", "eager"],
                     copy_of_build.db_path, tmp_path, {"transactions_path": str(copy_of_build.data_path)})
    assert result.returncode != 0
    failed = [line for line in result.stdout.splitlines() if " FAIL " in line]
    for test_name in (
        "expression_is_true_segment_k_selection__select_count_from_ref_segment_k_selection_where_is_chosen",
        "unique_segment_algorithm_comparison_algorithm",
        "expression_is_true_segment_feature_importance__select_count_from_ref_segment_feature_importance_where_is_top_driver",
    ):
        assert any(test_name in line for line in failed), test_name


def test_names_fit_and_typicality_on_the_generated_build(generated_build):
    rows = generated_build.query(
        "select segment_id, segment_name, segment_label, count(*), min(membership_rank), max(membership_rank), "
        "count(*) filter (where membership_margin < 0) from customer_segments group by all order by segment_id")
    print(rows)
    assert len({r[1] for r in rows}) == len(rows)
    assert all("(" not in name or not name.rstrip(")").split("(")[-1].isdigit() for _, name, *_ in rows)
    # Each segment's members are ranked 1..size by their margin; negative margins are rare border cases.
    assert all(low == 1 and high == size for _, _, _, size, low, high, _ in rows)
    assert sum(r[6] for r in rows) <= 0.01 * sum(r[3] for r in rows)
    clear_first = generated_build.scalar(
        "select bool_and(ordered) from (select membership_margin >= lead(membership_margin) over "
        "(partition by segment_id order by membership_rank) or lead(membership_margin) over "
        "(partition by segment_id order by membership_rank) is null as ordered from customer_segments)")
    assert clear_first


def test_name_and_id_tests_fail_when_their_rule_breaks(copy_of_build, tmp_path):
    with duckdb.connect(str(copy_of_build.db_path)) as con:
        labels = dict(con.execute("select segment_id, any_value(segment_label) from customer_segments group by 1").fetchall())
        # A label its median member does not bear, a name two segments share, a kept id without a shift.
        wrong = next(label for label in labels.values() if label != labels[1])
        con.execute("update customer_segments set segment_label = ? where segment_id = 1", [wrong])
        con.execute("update customer_segments set segment_name = (select segment_name from customer_segments "
                    "where segment_id = 3 limit 1) where segment_id = 2")
        con.execute("update customer_segments set id_source = 'kept from the previous build' where segment_id = 4")
    result = run_dbt(["test", "--select", "path:models/marts/customer_segments.py", "--indirect-selection", "eager"],
                     copy_of_build.db_path, tmp_path,
                     {"transactions_path": str(copy_of_build.data_path)})
    assert result.returncode != 0
    failed = [line for line in result.stdout.splitlines() if " FAIL " in line]
    print("\n".join(failed))
    for test_name in ("customer_segments_label_fits_median_member", "customer_segments_names_unique",
                      "expression_is_true_customer_segments__centroid_shift_is_not_null_id_source_kept_from_the_previous_build_"):
        assert any(test_name in line for line in failed), test_name
