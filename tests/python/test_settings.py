"""dbt vars of the segmentation models: validated with messages that name the var."""

import pandas as pd
import pytest

from customer_segments.settings import chosen_k, comparison_table, float_setting, int_setting, read_planted_groups


def test_int_and_float_settings_name_the_var():
    assert int_setting("k_max", "10", 2) == 10
    assert float_setting("max_centroid_shift", "0.5", 0.0) == 0.5
    for bad in ("ten", "1", None, "2.5"):
        with pytest.raises(ValueError, match="var k_max must be an integer >= 2"):
            int_setting("k_max", bad, 2)
    with pytest.raises(ValueError, match="var max_centroid_shift must be a number >= 0"):
        float_setting("max_centroid_shift", "-1", 0.0)


def test_chosen_k_needs_exactly_one_chosen_row():
    assert chosen_k(pd.DataFrame({"k": [2, 3], "is_chosen": [False, True]})) == 3
    with pytest.raises(ValueError, match="exactly one chosen k"):
        chosen_k(pd.DataFrame({"k": [2, 3], "is_chosen": [True, True]}))


def test_planted_groups_are_found_beside_the_input_or_named(tmp_path):
    assert read_planted_groups("", tmp_path / "invoice_lines.parquet") is None
    pd.DataFrame({"customer_id": [1], "planted_group": ["a"]}).to_parquet(tmp_path / "planted_groups.parquet")
    assert len(read_planted_groups("", tmp_path / "invoice_lines.parquet")) == 1
    with pytest.raises(ValueError, match="var planted_groups_path: .* does not exist"):
        read_planted_groups(tmp_path / "missing.parquet", "")


def test_comparison_models_refuse_a_missing_config():
    with pytest.raises(ValueError, match="needs config comparison_settings"):
        comparison_table("segment_algorithm_comparison", pd.DataFrame(), pd.DataFrame(), None)
