"""Segment names: levels from centroids, first matching playbook row, unique names."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customer_segments.segmentation.naming import (
    centroid_levels,
    descriptive_label,
    level,
    match_playbook,
    name_segments,
)

FEATURES = ("recency_days", "frequency", "monetary")
PLAYBOOK = pd.read_csv(Path(__file__).parents[2] / "seeds" / "segment_playbook.csv")


def test_levels_use_half_a_standard_deviation():
    assert [level(z) for z in (-0.6, -0.4, 0.0, 0.4, 0.6)] == ["low", "mid", "mid", "mid", "high"]


def test_low_recency_reads_as_recent():
    levels = centroid_levels(np.array([-1.2, 1.1, 1.3]), FEATURES)
    assert levels == {"recency_days": "recent", "frequency": "high", "monetary": "high"}
    assert descriptive_label(levels) == "Recent · frequent · high value"


def test_first_matching_playbook_row_wins_and_star_matches_anything():
    def name_of(recency: str, frequency: str, monetary: str) -> str:
        levels = {"recency_days": recency, "frequency": frequency, "monetary": monetary}
        return match_playbook(levels, PLAYBOOK)["segment_name"]

    assert name_of("recent", "high", "high") == "Champions"
    assert name_of("lapsed", "low", "mid") == "Lapsed one-timers"
    assert name_of("mid", "low", "low") == "Occasional customers"


def test_playbook_without_catch_all_row_is_refused_clearly():
    partial = PLAYBOOK[PLAYBOOK["recency_level"] == "recent"]
    with pytest.raises(ValueError, match="no segment playbook row matches"):
        match_playbook({"recency_days": "lapsed", "frequency": "low", "monetary": "low"}, partial)


def test_segments_matching_the_same_row_get_unique_names():
    centroids = np.array([[-1.0, 1.0, 1.0], [0.0, 0.0, 0.1], [0.1, 0.2, 0.0]])
    names = name_segments(centroids, FEATURES, PLAYBOOK)
    assert names["segment_name"].tolist() == ["Champions", "Regulars (2)", "Regulars (3)"]
    assert names["segment_id"].tolist() == [1, 2, 3]
