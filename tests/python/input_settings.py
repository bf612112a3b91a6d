"""The input vars parsed as a base model parses them, for the tests that call the loader directly.

The vars are those of the base models' config (models/staging/base_retail__invoice_lines.yml;
base_retail__rejected_lines has the same), so a test reads a file through the same parse_settings call
as a build; a var not given is unset (its default).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import ROOT
from customer_segments.settings import BY_NAME, Settings, parse_settings

_PROPERTIES = yaml.safe_load((ROOT / "models" / "staging" / "base_retail__invoice_lines.yml").read_text())
#: The vars the loader's models are configured with.
INPUT_VARS = tuple(_PROPERTIES["models"][0]["config"]["settings"])


def input_settings(path: Path | str, **values: object) -> Settings:
    """The parsed input vars for reading ``path``: ``values`` by var name, as dbt renders them or as
    Python values; the others unset (a text var, which has no unset value, at its default as
    dbt_project.yml sets it). SettingsError (naming the var) for a value settings refuses."""
    unset = {name: BY_NAME[name].default if BY_NAME[name].kind == "text" else None for name in INPUT_VARS}
    return parse_settings({**unset, "transactions_path": str(path), **values})
