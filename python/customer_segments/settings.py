"""dbt vars of the segmentation models, read from a model's config and validated at the boundary."""

from __future__ import annotations

from pathlib import Path
import pandas as pd

from customer_segments.comparison import (ComparisonSettings, build_algorithm_comparison,
                                          build_feature_set_comparison)

def whole_number(value: object) -> int | None:
    """A var's value (an int, or its text as dbt renders vars) as an int; None when it is not a whole
    number (booleans, decimals, words and None are not)."""
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool) or not text.lstrip("-").isdigit():
        return None
    return int(text)


def int_setting(name: str, value: object, minimum: int) -> int:
    """The var ``name`` (rendered by dbt as text) as an integer >= minimum, or a ValueError naming it."""
    number = whole_number(value)
    if number is None or number < minimum:
        raise ValueError(f"var {name} must be an integer >= {minimum}, got {value!r}")
    return number


def float_setting(name: str, value: object, minimum: float) -> float:
    """The var ``name`` as a number >= minimum, or a ValueError naming the var."""
    try:
        number = float(str(value))
    except ValueError:
        number = float("nan")
    if not number >= minimum:
        raise ValueError(f"var {name} must be a number >= {minimum}, got {value!r}")
    return number


#: Smallest value of each comparison setting.
COMPARISON_MINIMUMS = {"random_state": 0, "silhouette_sample_size": 2, "agglomerative_sample_size": 2,
                       "density_sample_size": 2, "stability_resamples": 2, "stability_sample_size": 10,
                       "selection_sample_size": 10}


def comparison_settings(k: int, config: dict[str, object]) -> ComparisonSettings:
    """Sizes and seeds of the comparison models from their config values (vars of the same names)."""
    return ComparisonSettings(k=k, **{name: int_setting(name, config.get(name), minimum)
                                      for name, minimum in COMPARISON_MINIMUMS.items()})


def chosen_k(k_selection: pd.DataFrame) -> int:
    """The k of the one chosen row of segment_k_selection."""
    chosen = k_selection.loc[k_selection["is_chosen"].astype(bool), "k"]
    if len(chosen) != 1:
        raise ValueError(f"segment_k_selection must have exactly one chosen k, has {len(chosen)}")
    return int(chosen.iloc[0])


def read_planted_groups(planted_groups_path: object, transactions_path: object) -> pd.DataFrame | None:
    """Planted groups of generated data, for the adjusted Rand index columns; None for real data.

    An empty var planted_groups_path means "planted_groups.parquet beside the transactions file, if
    there is one" (what `python -m customer_segments.generate` writes); a path given must exist.
    """
    if planted_groups_path:
        path = Path(str(planted_groups_path))
        if not path.exists():
            raise ValueError(f"var planted_groups_path: {path} does not exist")
    else:
        path = Path(str(transactions_path or "")).parent / "planted_groups.parquet"
        if not path.exists():
            return None
    return pd.read_parquet(path, columns=["customer_id", "planted_group"])


#: The comparison tables by model name.
COMPARISON_BUILDERS = {
    "segment_algorithm_comparison": build_algorithm_comparison,
    "segment_feature_set_comparison": build_feature_set_comparison,
}


def comparison_table(model_name: str, customers: pd.DataFrame, k_selection: pd.DataFrame,
                     config: dict[str, object] | None) -> pd.DataFrame:
    """One comparison model's table from its refs and its ``comparison_settings`` config dict.

    ``config`` holds the sizes and seeds (COMPARISON_MINIMUMS), planted_groups_path and transactions_path.
    """
    if not isinstance(config, dict):
        raise ValueError(f"model {model_name} needs config comparison_settings (a mapping), got {config!r}")
    settings = comparison_settings(chosen_k(k_selection), config)
    planted = read_planted_groups(config.get("planted_groups_path"), config.get("transactions_path"))
    return COMPARISON_BUILDERS[model_name](customers, settings, planted)
