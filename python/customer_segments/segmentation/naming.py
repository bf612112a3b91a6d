"""Names for segments: a descriptive label from where the centroid sits, and a business name and
suggested actions from the playbook seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A standardized centroid coordinate beyond +-LEVEL_THRESHOLD is high/low, otherwise mid.
LEVEL_THRESHOLD = 0.5
#: Words for the levels of each feature; recency is inverted (low recency = recent).
LEVEL_WORDS: dict[str, dict[str, str]] = {
    "recency_days": {"low": "recent", "mid": "mid", "high": "lapsed"},
    "frequency": {"low": "low", "mid": "mid", "high": "high"},
    "monetary": {"low": "low", "mid": "mid", "high": "high"},
}
LABEL_WORDS: dict[str, dict[str, str]] = {
    "recency_days": {"recent": "Recent", "mid": "Mid-recency", "lapsed": "Lapsed"},
    "frequency": {"low": "one-off", "mid": "occasional", "high": "frequent"},
    "monetary": {"low": "low value", "mid": "mid value", "high": "high value"},
}
PLAYBOOK_COLUMNS = ("priority", "recency_level", "frequency_level", "monetary_level", "segment_name", "suggested_actions")


def level(z: float, threshold: float = LEVEL_THRESHOLD) -> str:
    """'low', 'mid' or 'high' for a standardized coordinate."""
    if z < -threshold:
        return "low"
    if z > threshold:
        return "high"
    return "mid"


def centroid_levels(centroid: np.ndarray, feature_names: tuple[str, ...]) -> dict[str, str]:
    """Level word of each feature for one centroid, e.g. {'recency_days': 'recent', ...}."""
    return {name: LEVEL_WORDS[name][level(float(z))] for name, z in zip(feature_names, centroid)}


def descriptive_label(levels: dict[str, str]) -> str:
    """'Recent · frequent · high value' from a centroid's levels."""
    return " · ".join(LABEL_WORDS[name][word] for name, word in levels.items())


def match_playbook(levels: dict[str, str], playbook: pd.DataFrame) -> pd.Series:
    """The first playbook row (by priority) whose levels match; '*' matches any level."""
    missing = [c for c in PLAYBOOK_COLUMNS if c not in playbook.columns]
    if missing:
        raise ValueError(f"segment playbook is missing columns {missing}")
    wanted = {
        "recency_level": levels.get("recency_days", "*"),
        "frequency_level": levels.get("frequency", "*"),
        "monetary_level": levels.get("monetary", "*"),
    }
    rows = playbook.sort_values("priority")
    matches = np.ones(len(rows), dtype=bool)
    for column, value in wanted.items():
        matches &= (rows[column] == "*").to_numpy() | (rows[column] == value).to_numpy()
    if not matches.any():
        raise ValueError(f"no segment playbook row matches {wanted}: add a catch-all row with '*' levels")
    return rows.loc[matches].iloc[0]


def name_segments(centroids: np.ndarray, feature_names: tuple[str, ...], playbook: pd.DataFrame,
                  segment_ids: np.ndarray | None = None) -> pd.DataFrame:
    """One row per segment: segment_id, segment_name, segment_label, levels, suggested_actions.

    ``segment_ids`` (default 1..k) label the rows of ``centroids``. Two segments that match the same
    playbook row get the name suffixed by their id, so names stay unique and readable ("Regulars (2)").
    """
    if segment_ids is None:
        segment_ids = np.arange(1, len(centroids) + 1)
    rows = []
    for segment_id, centroid in zip(segment_ids, centroids):
        levels = centroid_levels(centroid, feature_names)
        entry = match_playbook(levels, playbook)
        rows.append(
            {
                "segment_id": int(segment_id),
                "segment_name": str(entry["segment_name"]),
                "segment_label": descriptive_label(levels),
                "recency_level": levels.get("recency_days"),
                "frequency_level": levels.get("frequency"),
                "monetary_level": levels.get("monetary"),
                "suggested_actions": str(entry["suggested_actions"]),
            }
        )
    names = pd.DataFrame(rows)
    repeated = names["segment_name"].duplicated(keep=False)
    names.loc[repeated, "segment_name"] = names.loc[repeated].apply(
        lambda r: f"{r['segment_name']} ({r['segment_id']})", axis=1
    )
    return names


def apply_name_overrides(names: pd.DataFrame, overrides: pd.DataFrame | None) -> pd.DataFrame:
    """Analyst overrides (seed segment_name_overrides) of segment_name and, when given, suggested_actions.

    Segment ids are stable between builds (:mod:`customer_segments.segmentation.relabel`), so an override written
    for segment 3 keeps naming the same customers after new data arrives. Overrides for ids not in this
    build are ignored; names must stay unique.
    """
    if overrides is None or overrides.empty:
        return names
    missing = [c for c in ("segment_id", "segment_name") if c not in overrides.columns]
    if missing:
        raise ValueError(f"segment name overrides are missing columns {missing}")
    if overrides["segment_id"].duplicated().any():
        raise ValueError("segment name overrides list a segment_id more than once")
    by_id = overrides.set_index(overrides["segment_id"].astype("int64"))
    names = names.copy()
    for i, segment_id in names["segment_id"].items():
        if segment_id in by_id.index:
            override = by_id.loc[segment_id]
            names.loc[i, "segment_name"] = str(override["segment_name"])
            actions = override.get("suggested_actions")
            if isinstance(actions, str) and actions.strip():
                names.loc[i, "suggested_actions"] = actions
    if names["segment_name"].duplicated().any():
        raise ValueError(f"segment names must be unique after overrides, got {names['segment_name'].tolist()}")
    return names
