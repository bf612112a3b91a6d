"""Every dbt var and env var of the project, declared once, and the one parser that checks them.

:data:`VARS` is the table (like scikit-learn's ``_parameter_constraints``): each var's name, kind,
default, range or allowed values and meaning. :func:`parse_settings` reads what dbt hands a Python
model (config values arrive as rendered text, lists and mappings as JSON text) and raises
:class:`SettingsError` with one line naming the var. :func:`check_environment` does the same for the
env vars the profile and the Python entry points read.

How a var reaches SQL (docs/input_contract.md, "Settings"): numbers through the macro ``number_var``
(the same pattern and the range declared here), dates through ``date_var``, text as a literal
quoted by ``sql_string``, the input options as bound parameters of the loader. This module imports
nothing of the project, so every layer can use it.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

#: The text of a number as dbt vars write it: no sign, optional decimals and exponent. The macro
#: number_var (macros/input_vars.sql) uses the same pattern.
NUMBER_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
WHOLE_PATTERN = re.compile(r"[0-9]+")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: CSV encodings read, by the names accepted; "auto" picks utf-16 after a utf-16 byte-order mark, else
#: utf-8 unless the file holds bytes that are not utf-8 (then latin-1).
CSV_ENCODINGS = {"auto": "auto", "utf-8": "utf-8", "utf8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
                 "iso-8859-1": "latin-1", "utf-16": "utf-16"}
#: Texts that mean "not set" when dbt renders an empty or null var.
UNSET = ("", "None", "none", "null")
#: Largest seed numpy accepts.
MAX_SEED = 2**32 - 1
#: Largest sample size or count accepted: far beyond any shop, small enough to be a valid int everywhere.
MAX_COUNT = 10**9


class SettingsError(ValueError):
    """A var or env var has a value the project cannot use; the message names it and what is allowed."""


@dataclass(frozen=True)
class Var:
    """One setting: a dbt var (or an env var when ``name`` is upper-case).

    kind: whole, number, flag, date, choice, text, path, delimiter, formats (list of strptime
    formats), columns (mapping of canonical column names to the file's), memory or storage (the
    DuckDB memory limit and storage version of profiles.yml). ``low``/``high`` bound a
    number (``low_open``: strictly above ``low``) or a text's length; ``choices`` are the accepted
    texts; ``optional``: empty means "not set" (None); ``auto``: the text 'auto' means None (use the
    rule); ``env``: the env var read when the dbt var is not set.
    """

    name: str
    kind: str
    default: object
    meaning: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    auto: bool = False
    env: str | None = None


def _whole(name: str, default: int, low: int, high: int, meaning: str, **extra) -> Var:
    return Var(name, "whole", default, meaning, low=low, high=high, **extra)


#: Every dbt var, once. Defaults are those of dbt_project.yml (transactions_path and as_of_date are
#: not declared there: their defaults come from env vars, which a declared var would hide).
VARS: tuple[Var, ...] = (
    # input file and how to read it
    Var("transactions_path", "path", "data/generated/invoice_lines.parquet",
        "input file (parquet, csv, tsv, csv.gz, tsv.gz or xlsx by extension), or a folder or glob pattern of "
        "same-shaped files read as one input; relative to the project root", env="SEGMENTS_DATA"),
    Var("column_map", "columns", {}, "your column names for the canonical ones, e.g. {customer_id: client}"),
    Var("date_formats", "formats", [], "strptime formats tried in order for text timestamps; empty: the built-in ones"),
    Var("csv_encoding", "choice", "auto", "CSV only: the file's encoding", choices=tuple(CSV_ENCODINGS)),
    Var("csv_delimiter", "delimiter", ",", "CSV only: the field delimiter (one character; \\t for tab; "
        "a header without it but with tabs is read tab-separated)"),
    Var("decimal_separator", "choice", ".", "decimal mark of text prices and amounts", choices=(".", ",")),
    Var("cancellation_marker", "text", "C", "an invoice number starting with this text (any case) is a cancellation (and starts "
        "the invoice number derived for a refund in a file without invoice numbers)",
        low=1, high=10),
    Var("customer_id_kind", "choice", "auto", "what the customer column holds: 'number' (whole numbers), 'key' (any "
        "text id, e.g. c1025 or a UUID) or 'email' (addresses); 'auto': email by the column's name, else by its values",
        choices=("auto", "number", "key", "email")),
    Var("identical_lines", "choice", "collapse",
        "lines identical once normalised: 'collapse' (export artefacts: one line kept, the copies counted as "
        "duplicate_copy) or 'keep' (real repeat orders: every copy is a line of its own)", choices=("collapse", "keep")),
    # plausibility limits and accounting
    Var("min_invoice_date", "date", "1990-01-01", "lines dated before it are rejected as implausible"),
    Var("max_invoice_date", "date", "", "lines dated after it are rejected as implausible; empty: the day the build runs",
        optional=True),
    _whole("max_quantity", 1_000_000, 1, 10**15, "lines with abs(quantity) above it are rejected"),
    Var("max_unit_price", "number", 1_000_000, "lines with a unit price above it are rejected", low=0, high=1e14,
        low_open=True),
    Var("max_line_value", "number", 10_000_000, "lines with abs(quantity x unit price) above it are rejected", low=0,
        high=1e14, low_open=True),
    Var("max_rejected_share", "number", 0.05, "the build fails when more than this share of the lines is rejected",
        low=0, high=1),
    Var("as_of_date", "date", "",
        "reference date for recency and tenure; empty: the day after the last line neither unparseable nor implausible",
        optional=True, env="SEGMENTS_AS_OF_DATE"),
    # segmentation
    _whole("n_segments", "auto", 2, 20, "number of K-means segments: 'auto' (the rule of segment_k_selection) "
           "or a whole number from k_min to k_max", auto=True),
    _whole("k_min", 2, 2, 20, "smallest k evaluated by segment_k_selection"),
    _whole("k_max", 10, 2, 20, "largest k evaluated by segment_k_selection"),
    _whole("selection_sample_size", 20_000, 10, MAX_COUNT, "customers the model-selection tables are computed on"),
    _whole("silhouette_sample_size", 3000, 2, MAX_COUNT, "customers the silhouette is computed on"),
    _whole("agglomerative_sample_size", 2000, 2, MAX_COUNT, "customers Ward clustering is fitted on"),
    _whole("density_sample_size", 5000, 2, MAX_COUNT, "customers DBSCAN and HDBSCAN are fitted on"),
    _whole("stability_resamples", 5, 2, 1000, "bootstrap stability of the comparisons: number of refits"),
    _whole("stability_max_resamples", 100, 3, 1000, "bootstrap stability of each k in segment_k_selection: "
           "most refits (it stops earlier once its interval is clear of the bar)"),
    _whole("stability_sample_size", 3000, 10, MAX_COUNT, "bootstrap stability: customers per refit"),
    Var("max_centroid_shift", "number", 0.5, "a segment whose centroid moved at most this far keeps its id",
        low=0, high=10),
    Var("reset_segment_ids", "flag", False, "true: number segment ids by mean monetary again"),
    Var("planted_groups_path", "path", "", "planted groups of generated data; empty: beside the transactions file",
        optional=True),
    _whole("random_state", 42, 0, MAX_SEED, "seed of every random step"),
    # products
    _whole("n_product_categories", 20, 1, 500, "product categories learned from descriptions"),
    _whole("segment_top_products", 10, 1, 1000, "products listed per segment in segment_product_purchases"),
    # predictions
    Var("classifier_cutoff_date", "date", "", "time split of the first-purchase models (new_customer_predictions, "
        "segment classifier); empty: derived from the window of complete horizons (model build_dates)", optional=True),
    _whole("classifier_sample_size", 5000, 10, MAX_COUNT, "customers the first-purchase classifiers fit on"),
    _whole("new_customer_horizon_days", 365, 1, 36_500, "new_customer_predictions: days after the first invoice "
           "whose purchases and spend are predicted; shortened to half the data's window when that is shorter "
           "(model build_dates)"),
    _whole("forecast_horizon_days", 365, 1, 36_500, "forecast horizon for expected purchases and spend, in days"),
    _whole("forecast_backtest_origins", 3, 1, 24, "forecast origins of the backtest, evenly spaced before the as-of "
           "date (model customer_purchase_summary)"),
    _whole("clv_horizon_days", 1095, 1, 36_500, "customer lifetime value horizon, in days"),
    Var("clv_annual_discount_rate", "number", 0.10, "annual rate CLV is discounted at (monthly)", low=0, high=1),
    # campaigns
    Var("campaign_name", "text", "", "the campaign campaign_groups splits into treatment and control; empty: none",
        low=1, high=100, optional=True),
    Var("campaign_control_share", "number", 0.10, "share of each segment held out as the campaign's control group",
        low=0, high=0.5, low_open=True),
    _whole("campaign_window_days", 90, 1, 36_500, "campaign_power: days before the as-of date the baseline is measured on"),
    Var("campaign_target_lift", "number", 0.10, "campaign_power: the relative lift in the repeat-purchase rate "
        "the customers needed are sized for", low=0, high=10, low_open=True),
    Var("campaign_start_date", "date", "", "the campaign's first day: campaign_evaluation measures purchases from it "
        "to the as-of date; empty: no evaluation", optional=True),
    # segments over time
    _whole("inactive_after_days", 180, 1, 36_500, "segment_migration: a customer whose last purchase is more than "
           "this many days before a month-end's as-of day is in state inactive rather than in their segment"),
)

#: Env vars read by profiles.yml and the Python entry points (SEGMENTS_DATA and SEGMENTS_AS_OF_DATE are
#: the env fallbacks of vars, declared above).
ENV_VARS: tuple[Var, ...] = (
    Var("SEGMENTS_DB", "path", "customer_segments.build.duckdb", "the working DuckDB file dbt writes"),
    Var("SEGMENTS_PUBLISHED", "path", "customer_segments.duckdb", "the published DuckDB file readers use"),
    Var("SEGMENTS_MEMORY_LIMIT", "memory", "3GB", "DuckDB memory_limit, e.g. 3GB or 512MiB"),
    Var("SEGMENTS_STORAGE_VERSION", "storage", "v1.3.0", "DuckDB storage format of the files written, e.g. v1.0.0"),
)

BY_NAME: dict[str, Var] = {var.name: var for var in VARS + ENV_VARS}
#: What profiles.yml lets through to DuckDB (the same patterns are written there: it cannot import this).
MEMORY_PATTERN = re.compile(r"[0-9]+([.][0-9]+)? ?([KMGTkmgt]i?)?[Bb]")
STORAGE_VERSION_PATTERN = re.compile(r"v[0-9]+[.][0-9]+[.][0-9]+|latest")


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal, its quotes doubled: the one way Python code writes text into SQL
    that is not a bound parameter (the macro sql_string does the same in dbt's SQL)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (a file's column name, a schema or table name)."""
    return '"' + name.replace('"', '""') + '"'


class Settings(Mapping[str, object]):
    """Parsed settings by var name: only the vars given to :func:`parse_settings`."""

    def __init__(self, values: dict[str, object]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> object:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"setting {name} was not passed to parse_settings (add it to the model's config)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _shown(value: object) -> str:
    """The value as the message shows it: quoted, on one line."""
    return json.dumps(value if isinstance(value, str) else str(value), ensure_ascii=False)


def describe(var: Var) -> str:
    """What ``var`` accepts, as the error message says it."""
    if var.kind in ("whole", "number"):
        kind = "whole number" if var.kind == "whole" else "number"
        bounds = (f"greater than {var.low:g} and at most {var.high:g}" if var.low_open
                  else f"from {var.low:g} to {var.high:g}")
        return ("'auto' or " if var.auto else "") + f"a {kind} {bounds}"
    if var.kind == "text":
        return f"text of {var.low:g} to {var.high:g} characters, not blank and none of them a control character"
    return {
        "flag": "true or false",
        "date": "a date written YYYY-MM-DD" + (" or empty" if var.optional else ""),
        "choice": "one of " + ", ".join(f"'{choice}'" for choice in var.choices),
        "path": "a file path" + (" or empty" if var.optional else ""),
        "delimiter": "one character other than a quote or a newline (\\t for tab)",
        "formats": "a list of strptime formats such as ['%d/%m/%Y %H:%M']",
        "columns": "a mapping of canonical column names to your file's column names, e.g. {customer_id: client}",
        "memory": "a size such as 3GB or 512MiB",
        "storage": "a DuckDB storage version such as v1.3.0, or latest",
    }[var.kind]


def _decoded(var: Var, value: object) -> object:
    """dbt renders a list or mapping var into a config value as JSON text: decode it."""
    if var.kind in ("formats", "columns") and isinstance(value, str):
        text = value.strip()
        if text in UNSET:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return value
    return value


def _number(var: Var, value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and not (var.kind == "whole" and isinstance(value, float)):
        number = value
    else:
        text = str(value).strip()
        pattern = WHOLE_PATTERN if var.kind == "whole" else NUMBER_PATTERN
        if not pattern.fullmatch(text):
            return None
        number = int(text) if var.kind == "whole" else float(text)
    if not math.isfinite(number) or number > var.high or number < var.low or (var.low_open and number == var.low):
        return None
    return int(number) if var.kind == "whole" else float(number)


def _text_ok(text: str, low: float, high: float) -> bool:
    return low <= len(text) <= high and not any(ord(c) < 32 or ord(c) == 127 for c in text)


def parse_value(var: Var, value: object) -> object:
    """``value`` (a Python value, or the text dbt renders) as ``var``'s type; SettingsError when refused."""
    value = _decoded(var, value)
    # A real tab is a delimiter, not blank text (YAML's "\t" hands one over).
    blank = isinstance(value, str) and value.strip() in UNSET and not (var.kind == "delimiter" and value == "\t")
    unset = value is None or blank or value in ([], {})
    parsed: object = None
    if unset and (var.optional or var.kind in ("formats", "columns")):
        return None if var.optional else type(var.default)()
    if unset and var.kind in ("choice", "delimiter"):
        value = var.default
    if var.kind in ("whole", "number"):
        if var.auto and isinstance(value, str) and value.strip().lower() == "auto":
            return None
        parsed = _number(var, value)
    elif var.kind == "flag":
        text = str(value).strip().lower()
        parsed = {"true": True, "false": False}.get(text)
    elif var.kind == "date" and isinstance(value, (str, datetime.date)):
        text = str(value).strip()
        if DATE_PATTERN.fullmatch(text):
            try:
                parsed = datetime.date.fromisoformat(text)
            except ValueError:
                parsed = None
    elif var.kind == "choice":
        text = str(value).strip().lower()
        parsed = text if text in var.choices else None
    elif var.kind == "text" and isinstance(value, str):
        parsed = value if value.strip() and _text_ok(value, var.low, var.high) else None
    elif var.kind == "path" and isinstance(value, str):
        parsed = value.strip() if _text_ok(value.strip(), 1, 4096) else None
    elif var.kind == "delimiter" and isinstance(value, str):
        text = "\t" if value == "\\t" else value
        parsed = text if len(text) == 1 and text not in "\"\r\n" else None
    elif var.kind == "formats":
        formats = [value] if isinstance(value, str) else value
        if isinstance(formats, list) and formats and all(isinstance(f, str) and "%" in f and _text_ok(f, 2, 200)
                                                         for f in formats):
            parsed = list(formats)
    elif var.kind == "columns":
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) and _text_ok(v, 1, 200)
                                           for k, v in value.items()):
            parsed = dict(value)
    elif var.kind in ("memory", "storage") and isinstance(value, str):
        pattern = MEMORY_PATTERN if var.kind == "memory" else STORAGE_VERSION_PATTERN
        parsed = value if pattern.fullmatch(value) else None
    if parsed is None:
        kind = "env var" if var.name.isupper() else "var"
        raise SettingsError(f"{kind} {var.name} must be {describe(var)}, got {_shown(value)}")
    return parsed


def parse_settings(raw: Mapping[str, object] | None) -> Settings:
    """Parse the vars in ``raw`` (a model's config mapping ``settings``: var name -> value as dbt renders it).

    Raises
    ------
    SettingsError
        On the first var refused, unknown or not a mapping, with one line naming the var; also when
        k_min > k_max or n_segments is outside k_min..k_max (when those vars are given).
    """
    if not isinstance(raw, Mapping):
        raise SettingsError(f"settings must be a mapping of var names to values (config 'settings'), got {_shown(raw)}")
    unknown = sorted(set(raw) - {var.name for var in VARS})
    if unknown:
        raise SettingsError(f"unknown var {unknown[0]}: declared vars are in customer_segments.settings.VARS")
    try:
        values = {name: parse_value(BY_NAME[name], value) for name, value in raw.items()}
    except SettingsError as error:
        # Raised again from here, without the parser's frames: dbt's log then ends on the one line.
        raise SettingsError(str(error)) from None
    if "k_min" in values and "k_max" in values and values["k_min"] > values["k_max"]:
        raise SettingsError(f"var k_min must be at most var k_max, got k_min={values['k_min']}, k_max={values['k_max']}")
    k = values.get("n_segments")
    if k is not None and "k_min" in values and "k_max" in values and not values["k_min"] <= k <= values["k_max"]:
        raise SettingsError(f"var n_segments must be 'auto' or a whole number from k_min to k_max "
                            f"({values['k_min']} to {values['k_max']}), got {k}")
    return Settings(values)


def canonical_text(var: Var, value: object) -> str:
    """A parsed value of ``var`` as one line of text: what table build_settings shows."""
    if value is None:
        return "auto" if var.auto else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def settings_rows(settings: Settings) -> list[dict[str, object]]:
    """One row per declared var given in ``settings``: name, value and default as canonical text,
    is_default and meaning (the rows of table build_settings), in declaration order."""
    rows = []
    for var in VARS:
        if var.name in settings:
            value, default = settings[var.name], parse_value(var, var.default)
            rows.append({"name": var.name, "value": canonical_text(var, value), "default": canonical_text(var, default),
                         "is_default": value == default,
                         "meaning": var.meaning + (f" (default env {var.env})" if var.env else "")})
    return rows


def vars_of_build(values: Mapping[str, str]) -> dict[str, object]:
    """The dbt ``--vars`` that run the project with the settings of an earlier build.

    ``values`` maps each var to its value as that build's table build_settings shows it (canonical
    text, see :func:`settings_rows`). Each is parsed as the build parsed it, then given back in the form
    dbt renders into the models' settings: lists and mappings as JSON values, the rest as their text.

    Raises
    ------
    SettingsError
        A value this project refuses, or vars missing or unknown: the build was made by another version
        of the project, whose settings cannot be reproduced.
    """
    declared = [var.name for var in VARS]
    missing, unknown = [n for n in declared if n not in values], sorted(set(values) - set(declared))
    if missing or unknown:
        raise SettingsError(f"build_settings lacks vars {missing} and holds unknown vars {unknown}: "
                            "the file was built by another version of the project; rebuild it")
    for name in declared:
        parse_value(BY_NAME[name], values[name])
    return {name: json.loads(values[name]) if BY_NAME[name].kind in ("formats", "columns") else values[name]
            for name in declared}


def check_environment(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The env vars of :data:`ENV_VARS` (their defaults when unset), checked; SettingsError naming the
    first one refused. For the Python entry points, before they open or write a DuckDB file."""
    environ = os.environ if environ is None else environ
    return {var.name: parse_value(var, environ.get(var.name, var.default)) for var in ENV_VARS}
