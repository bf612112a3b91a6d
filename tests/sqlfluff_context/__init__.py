"""The dbt context names our macros use, as sqlfluff's jinja templater needs them to render a model.

sqlfluff lints the SQL dbt would run, rendered without dbt (`.sqlfluff`: jinja templater, the project's
macros, dbt's builtins); this package supplies the names its builtins lack or render too loosely for
our macros: `var` gives the defaults of dbt_project.yml, `execute` is false so no query runs, and a
failed check renders nothing (dbt checks every var when it builds).
"""

import datetime
import re
from pathlib import Path
from types import SimpleNamespace

import yaml

_VARS = yaml.safe_load((Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text())["vars"]

execute = False
#: A fixed time, so the rendered SQL is the same on every run.
run_started_at = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
modules = SimpleNamespace(datetime=datetime, re=re)


def var(name: str, default=None):
    return _VARS.get(name, default)


def env_var(name: str, default: str = "") -> str:
    return default


def _raise_compiler_error(message: str) -> str:
    return ""


exceptions = SimpleNamespace(raise_compiler_error=_raise_compiler_error)
