"""Segment names: levels from the median member's percentile, every reading in the playbook, unique names."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customer_segments.segmentation.naming import (
    all_readings,
    apply_name_overrides,
    descriptive_label,
    match_playbook,
    median_member_levels,
    name_segments,
    percentile_level,
)

FEATURES = ("recency_days", "frequency", "monetary")
PLAYBOOK = pd.read_csv(Path(__file__).parents[2] / "seeds" / "segment_playbook.csv")
CATCH_ALL = PLAYBOOK.loc[(PLAYBOOK[["recency_level", "frequency_level", "monetary_level"]] == "*").all(axis=1),
                         "segment_name"].item()


def test_levels_cut_the_median_members_mid_rank_percentile_at_thirds():
    values = np.arange(1, 13)  # 12 customers
    # 4 is above 3 and equal to 1 customer: p = 3.5 / 12 < 1/3; 5 gives 4.5 / 12 (mid).
    assert percentile_level(values, 4)[1] == "low" and percentile_level(values, 5)[1] == "mid"
    assert percentile_level(values, 8.5) == (8 / 12, "mid")  # exactly 2/3 is still mid
    assert percentile_level(values, 9)[1] == "high"
    # Ties count half: 35% of customers with one order make a median of 1 low (p = 0.175).
    one_offs = np.array([1] * 35 + [2] * 20 + [5] * 45)
    assert percentile_level(one_offs, 1) == (pytest.approx(0.175), "low")


def test_median_member_levels_compare_each_segment_with_all_customers():
    customers = pd.DataFrame({
        "segment_id": [1, 1, 1, 2, 2, 2],
        "recency_days": [3, 5, 200, 300, 310, 4],
        "frequency": [9, 12, 1, 1, 1, 2],
        "monetary": [900.0, 1200.0, 50.0, 40.0, 20.0, 60.0],
    })
    levels = median_member_levels(customers, FEATURES).set_index("segment_id")
    # Segment 1's median member: recency 5 (p = 2.5/6), 9 orders (4.5/6), 900 (4.5/6).
    assert levels.loc[1, ["recency_days", "frequency", "monetary"]].tolist() == ["mid", "high", "high"]
    assert levels.loc[2, ["recency_days", "frequency", "monetary"]].tolist() == ["lapsed", "low", "low"]
    assert levels.loc[1, "median_monetary"] == 900.0
    assert levels.loc[2, "percentile_recency_days"] == pytest.approx(4.5 / 6)


def test_first_matching_playbook_row_wins_and_star_matches_anything():
    def name_of(recency: str, frequency: str, monetary: str) -> str:
        levels = {"recency_days": recency, "frequency": frequency, "monetary": monetary}
        return match_playbook(levels, PLAYBOOK)["segment_name"]

    assert name_of("recent", "high", "high") == "Champions"
    assert name_of("lapsed", "low", "mid") == "Lapsed one-timers"
    assert name_of("lapsed", "low", "high") == "At-risk big spenders"
    assert descriptive_label({"recency_days": "recent", "frequency": "high", "monetary": "high"}) == (
        "Recent · frequent · high value")


def test_the_playbook_names_every_reading_the_rule_can_produce():
    readings = all_readings(FEATURES)
    assert len(readings) == 27
    winners = {}
    for levels in readings:
        row = match_playbook(levels, PLAYBOOK)
        assert row["segment_name"] != CATCH_ALL, f"{levels} falls through to the catch-all row"
        winners.setdefault(row["segment_name"], []).append(levels)
    # No dead rows: every named row of the playbook is the first match of some reading.
    assert set(winners) == set(PLAYBOOK["segment_name"]) - {CATCH_ALL}


def test_playbook_without_catch_all_row_is_refused_clearly():
    partial = PLAYBOOK[PLAYBOOK["recency_level"] == "recent"]
    with pytest.raises(ValueError, match="no segment playbook row matches"):
        match_playbook({"recency_days": "lapsed", "frequency": "low", "monetary": "low"}, partial)


def levels_table(rows: list[tuple[int, str, str, str, float, float, float]]) -> pd.DataFrame:
    """median_member_levels-like rows: id, three level words, three percentiles."""
    return pd.DataFrame(rows, columns=["segment_id", *FEATURES, *(f"percentile_{f}" for f in FEATURES)])


def test_segments_of_one_playbook_name_are_told_apart_by_their_differing_levels():
    names = name_segments(levels_table([
        (1, "recent", "high", "high", 0.1, 0.9, 0.9),
        (2, "mid", "mid", "high", 0.5, 0.5, 0.8),
        (3, "mid", "mid", "mid", 0.5, 0.5, 0.5),
    ]), PLAYBOOK, FEATURES)
    assert names["segment_name"].tolist() == ["Champions", "Regulars (high value)", "Regulars (mid value)"]
    assert names["segment_label"].tolist()[1] == "Mid-recency · occasional · high value"


def test_segments_alike_in_every_level_are_ordered_on_what_spreads_them_most():
    names = name_segments(levels_table([
        (1, "recent", "high", "high", 0.10, 0.97, 0.95),
        (2, "recent", "high", "high", 0.20, 0.80, 0.70),
        (3, "lapsed", "low", "low", 0.90, 0.10, 0.10),
    ]), PLAYBOOK, FEATURES)
    # Monetary spreads the two Champions most (0.25 against 0.17 and 0.10): no id suffix.
    assert names["segment_name"].tolist() == ["Champions (higher value)", "Champions (lower value)",
                                              "Lapsed one-timers"]
    three = name_segments(levels_table([
        (4, "lapsed", "low", "low", 0.80, 0.10, 0.10),
        (5, "lapsed", "low", "low", 0.95, 0.11, 0.12),
        (6, "lapsed", "low", "low", 0.70, 0.12, 0.11),
    ]), PLAYBOOK, FEATURES)
    assert three["segment_name"].tolist() == ["Lapsed one-timers (2nd most recent)", "Lapsed one-timers (3rd most recent)",
                                              "Lapsed one-timers (most recent)"]


def test_analyst_overrides_rename_by_segment_id_and_must_keep_names_unique():
    names = name_segments(levels_table([(3, "recent", "high", "high", 0.1, 0.9, 0.9),
                                        (7, "lapsed", "low", "low", 0.9, 0.1, 0.1)]), PLAYBOOK, FEATURES)
    overrides = pd.DataFrame({"segment_id": [7, 99], "segment_name": ["Sleeping beauties", "Unused"],
                              "suggested_actions": [None, "x"]})
    renamed = apply_name_overrides(names, overrides).set_index("segment_id")
    assert renamed.loc[7, "segment_name"] == "Sleeping beauties"
    assert renamed.loc[7, "suggested_actions"] == names.set_index("segment_id").loc[7, "suggested_actions"]
    assert renamed.loc[3, "segment_name"] == "Champions"
    with pytest.raises(ValueError, match="unique after overrides"):
        apply_name_overrides(names, pd.DataFrame({"segment_id": [7], "segment_name": ["Champions"]}))
