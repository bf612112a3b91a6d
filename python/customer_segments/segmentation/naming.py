"""Names for segments that fit their members: a descriptive label from where the segment's median
member sits among all segmented customers, a business name and suggested actions from the playbook
seed, and names that tell segments apart.

The rule (checked independently in SQL by tests/customer_segments_label_fits_median_member.sql):
for each feature, the segment's median member is the median of that feature over the segment's
customers; its percentile is the mid-rank share of all segmented customers (monetary > 0) below it,
p = (customers below + half the customers equal) / customers. p < 1/3 is the low level, p > 2/3 the
high level, else mid. Recency reads the other way round (low recency days = recent). So "Lapsed ·
one-off · low value" says that the segment's median member bought longer ago, fewer times and for
less than two thirds of all customers; it does not say that every member did (the membership margin
of :mod:`customer_segments.segmentation.clustering` says how typical each member is).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

#: Cut points of the levels, on the percentile of a segment's median member: below 1/3 is low, above
#: 2/3 high. Compared in whole numbers (6 * below + 3 * equal against 2n and 4n), so no rounding
#: decides a level, and the SQL test reproduces them exactly.
LOW_BELOW = 1 / 3
HIGH_ABOVE = 2 / 3
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
#: Words that compare segments sharing a name and levels: (more, less, most); "more" is the lower
#: recency and the higher frequency and monetary.
COMPARATIVE_WORDS: dict[str, tuple[str, str, str]] = {
    "recency_days": ("more recent", "less recent", "most recent"),
    "frequency": ("more frequent", "less frequent", "most frequent"),
    "monetary": ("higher value", "lower value", "highest value"),
}
PLAYBOOK_COLUMNS = ("priority", "recency_level", "frequency_level", "monetary_level", "segment_name", "suggested_actions")
#: The playbook's level column of each feature.
PLAYBOOK_LEVEL_COLUMNS = {"recency_days": "recency_level", "frequency": "frequency_level", "monetary": "monetary_level"}


def percentile_level(values: np.ndarray, median: float) -> tuple[float, str]:
    """(mid-rank percentile of ``median`` among ``values``, 'low' / 'mid' / 'high' by the cut points)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("no customers to compare the median member with")
    below = int((values < median).sum())
    equal = int((values == median).sum())
    n = len(values)
    # p < 1/3  <=>  6 * below + 3 * equal < 2n;  p > 2/3  <=>  6 * below + 3 * equal > 4n.
    scaled = 6 * below + 3 * equal
    word = "low" if scaled < 2 * n else "high" if scaled > 4 * n else "mid"
    return (below + equal / 2) / n, word


def median_member_levels(customers: pd.DataFrame, feature_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per segment: segment_id, ``median_<f>``, ``percentile_<f>`` and the level word of each
    feature (column ``<f>``, e.g. recency_days = 'recent'), sorted by segment_id.

    ``customers`` holds every segmented customer once: segment_id and the raw ``feature_names``.
    """
    missing = [c for c in ("segment_id", *feature_names) if c not in customers.columns]
    if missing:
        raise ValueError(f"segmented customers are missing columns {missing}")
    unknown = [f for f in feature_names if f not in LEVEL_WORDS]
    if unknown:
        raise ValueError(f"no level words for features {unknown}; known: {list(LEVEL_WORDS)}")
    values = {f: customers[f].astype("float64").to_numpy() for f in feature_names}
    rows = []
    for segment_id, members in customers.groupby("segment_id", sort=True):
        row: dict[str, object] = {"segment_id": int(segment_id)}
        for feature in feature_names:
            median = float(np.median(members[feature].astype("float64").to_numpy()))
            percentile, word = percentile_level(values[feature], median)
            row |= {f"median_{feature}": median, f"percentile_{feature}": percentile,
                    feature: LEVEL_WORDS[feature][word]}
        rows.append(row)
    return pd.DataFrame(rows)


def descriptive_label(levels: dict[str, str]) -> str:
    """'Recent · frequent · high value' from a segment's levels."""
    return " · ".join(LABEL_WORDS[name][word] for name, word in levels.items())


def match_playbook(levels: dict[str, str], playbook: pd.DataFrame) -> pd.Series:
    """The first playbook row (by priority) whose levels match; '*' matches any level."""
    missing = [c for c in PLAYBOOK_COLUMNS if c not in playbook.columns]
    if missing:
        raise ValueError(f"segment playbook is missing columns {missing}")
    wanted = {column: levels.get(feature, "*") for feature, column in PLAYBOOK_LEVEL_COLUMNS.items()}
    rows = playbook.sort_values("priority")
    matches = np.ones(len(rows), dtype=bool)
    for column, value in wanted.items():
        matches &= (rows[column] == "*").to_numpy() | (rows[column] == value).to_numpy()
    if not matches.any():
        raise ValueError(f"no segment playbook row matches {wanted}: add a catch-all row with '*' levels")
    return rows.loc[matches].iloc[0]


def all_readings(feature_names: tuple[str, ...] = tuple(LEVEL_WORDS)) -> list[dict[str, str]]:
    """Every combination of level words the rule can give ``feature_names`` (27 for RFM)."""
    words = [list(LEVEL_WORDS[f].values()) for f in feature_names]
    return [dict(zip(feature_names, combination)) for combination in itertools.product(*words)]


def _comparative(feature: str, position: int, n: int) -> str:
    more, less, most = COMPARATIVE_WORDS[feature]
    if n == 2:
        return (more, less)[position]
    if position == 0:
        return most
    ordinal = {2: "2nd", 3: "3rd"}.get(position + 1, f"{position + 1}th")
    return f"{ordinal} {most}"


def distinct_names(names: pd.DataFrame, feature_names: tuple[str, ...]) -> pd.Series:
    """segment_name made unique by what tells segments of one playbook name apart.

    Segments that share a name get, in parentheses, the label words of the features on which their
    levels differ ("Regulars (high value)", "Regulars (mid value)"); segments alike in every level are
    then ordered on the feature whose median-member percentile spreads them most ("Champions (higher
    value)", "Champions (lower value)"; three or more: "most frequent", "2nd most frequent", ...).
    Every added word is true of the segment's median member relative to the others.
    """
    result = names["segment_name"].copy()
    for name, group in names.groupby("segment_name", sort=False):
        if len(group) < 2:
            continue
        differing = [f for f in feature_names if group[f].nunique() > 1]
        words = {i: [LABEL_WORDS[f][group.at[i, f]] for f in differing] for i in group.index}
        for _, alike in group.groupby(list(feature_names), sort=False):
            if len(alike) < 2:
                continue
            spreads = {f: np.ptp(alike[f"percentile_{f}"].to_numpy()) for f in feature_names}
            feature = max(feature_names, key=lambda f: spreads[f])
            ranked = alike.assign(key=alike[f"percentile_{feature}"] * (1 if feature == "recency_days" else -1))
            for position, i in enumerate(ranked.sort_values(["key", "segment_id"]).index):
                words[i].append(_comparative(feature, position, len(alike)))
        for i in group.index:
            result.at[i] = f"{name} ({', '.join(words[i])})"
    if result.duplicated().any():
        raise ValueError(f"segment names are not unique: {result.tolist()}")
    return result


def name_segments(levels: pd.DataFrame, playbook: pd.DataFrame, feature_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per segment: segment_id, segment_name, segment_label, the levels, suggested_actions.

    ``levels`` is :func:`median_member_levels`'s table. Names are the playbook's, told apart by
    :func:`distinct_names` where several segments get the same one.
    """
    rows = []
    for _, segment in levels.iterrows():
        segment_levels = {f: str(segment[f]) for f in feature_names}
        entry = match_playbook(segment_levels, playbook)
        rows.append({
            "segment_id": int(segment["segment_id"]),
            "segment_name": str(entry["segment_name"]),
            "segment_label": descriptive_label(segment_levels),
            "recency_level": segment_levels.get("recency_days"),
            "frequency_level": segment_levels.get("frequency"),
            "monetary_level": segment_levels.get("monetary"),
            "suggested_actions": str(entry["suggested_actions"]),
        })
    names = pd.DataFrame(rows)
    names["segment_name"] = distinct_names(pd.concat([names, levels.drop(columns="segment_id")], axis=1),
                                           feature_names)
    return names


def apply_name_overrides(names: pd.DataFrame, overrides: pd.DataFrame | None) -> pd.DataFrame:
    """Analyst overrides (seed segment_name_overrides) of segment_name and, when given, suggested_actions.

    Segment ids are kept while builds continue the same customers' history
    (:mod:`customer_segments.segmentation.relabel`), so an override written for segment 3 keeps naming
    the same customers after new data arrives; after a restart (another data set) id 3 is another
    segment. Overrides for ids not in this build are ignored; names must stay unique.
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
