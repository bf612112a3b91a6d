"""Settings: every var declared once and parsed by one function; no var text reaches SQL unchecked.

The unit tests give every declared var hostile text and check the declaration against every place a
var is read (dbt_project.yml, the models' YAML, the macro calls). The dbt tests run the injection of
a sub-query and of a `copy ... to` through real dbt runs, and compile the whole project with hostile
text in every text var to scan the compiled SQL of every model and test.
"""

from __future__ import annotations

import datetime
import io
import os
import re
import subprocess
import tokenize

import duckdb
import pytest
import yaml

from conftest import DBT, ROOT, run_dbt
from customer_segments.ingest.read import load_transactions
from customer_segments.settings import (
    BY_NAME,
    ENV_VARS,
    MEMORY_PATTERN,
    STORAGE_VERSION_PATTERN,
    VARS,
    SettingsError,
    check_environment,
    parse_settings,
    parse_value,
    settings_rows,
    vars_of_build,
)
from input_settings import input_settings

#: What an attacker tries: a quote, a second statement, a sub-query reading a file.
HOSTILE = ("1'", "1; drop table x", "(select count(*) from read_text('/etc/passwd'))")
#: Vars whose value is free text by nature; they reach SQL only as bound parameters, quoted literals
#: or quoted identifiers (tested below and by the compiled-SQL scan), never as SQL text.
FREE_TEXT = {"transactions_path", "planted_groups_path", "cancellation_marker", "campaign_name", "column_map", "date_formats",
             "SEGMENTS_DB", "SEGMENTS_PUBLISHED"}
MODEL_YAML = sorted((ROOT / "models").rglob("*.yml"))


# ---------------------------------------------------------------- the parser

@pytest.mark.parametrize("var", [var for var in VARS + ENV_VARS if var.name not in FREE_TEXT], ids=lambda var: var.name)
@pytest.mark.parametrize("value", HOSTILE)
def test_every_var_refuses_quotes_statements_and_sub_queries(var, value):
    with pytest.raises(SettingsError, match=rf"^(env )?var {var.name} must be .*, got ") as error:
        parse_value(var, value)
    assert "\n" not in str(error.value)


def test_the_message_names_the_var_and_quotes_the_value():
    with pytest.raises(SettingsError) as error:
        parse_settings({"k_min": "1; drop table x"})
    assert str(error.value) == 'var k_min must be a whole number from 2 to 20, got "1; drop table x"'


def test_defaults_parse_and_are_the_defaults_of_dbt_project_yml():
    project_vars = yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]
    env_defaulted = {var.name for var in VARS if var.env}
    assert set(project_vars) == {var.name for var in VARS} - env_defaulted
    for name, value in project_vars.items():
        assert parse_value(BY_NAME[name], value) == parse_value(BY_NAME[name], BY_NAME[name].default), name
    rows = settings_rows(parse_settings({var.name: var.default for var in VARS}))
    assert [row["name"] for row in rows] == [var.name for var in VARS] and all(row["is_default"] for row in rows)


def test_the_settings_a_build_shows_give_back_the_vars_that_reproduce_them():
    raw = {var.name: var.default for var in VARS} | {
        "cancellation_marker": "X'", "date_formats": ["%d/%m/%Y %H:%M"], "column_map": {"customer_id": "client"},
        "max_invoice_date": "", "as_of_date": "2011-12-10", "n_segments": "4", "max_unit_price": 2.5,
        "reset_segment_ids": "true", "csv_delimiter": ";"}
    settings = parse_settings(raw)
    shown = {row["name"]: row["value"] for row in settings_rows(settings)}
    again = vars_of_build(shown)
    assert list(again) == [var.name for var in VARS]
    # Lists and mappings as values (dbt renders them with tojson), the rest as the text shown.
    assert again["date_formats"] == ["%d/%m/%Y %H:%M"] and again["column_map"] == {"customer_id": "client"}
    assert again["cancellation_marker"] == "X'" and again["max_invoice_date"] == ""
    assert parse_settings(again) == settings
    with pytest.raises(SettingsError, match=r"lacks vars \['k_min'\] and holds unknown vars \['old_var'\]"):
        vars_of_build({name: value for name, value in shown.items() if name != "k_min"} | {"old_var": "1"})
    with pytest.raises(SettingsError, match="var k_min must be a whole number"):
        vars_of_build(shown | {"k_min": "1; drop table x"})


@pytest.mark.parametrize("var", [var for var in VARS if var.kind in ("whole", "number")], ids=lambda var: var.name)
def test_numbers_are_bounded_and_written_plainly(var):
    kind = int if var.kind == "whole" else float
    assert parse_value(var, str(kind(var.high))) == var.high
    assert parse_value(var, kind(var.high)) == var.high
    if not var.low_open:
        assert parse_value(var, str(kind(var.low))) == var.low
    refused = [var.high * 2 + 1, "-1", "1e999", "nan", "inf", " ", "0x10", True]
    refused += ["1.5", 2.5] if var.kind == "whole" else []
    refused += [str(var.low)] if var.low_open else [str(kind(var.low) - 1)] if var.low >= 1 else []
    for value in refused:
        with pytest.raises(SettingsError, match=f"var {var.name} must be"):
            parse_value(var, value)


def test_cross_checks_and_auto():
    assert parse_settings({"n_segments": "auto", "k_min": "2", "k_max": "10"})["n_segments"] is None
    assert parse_settings({"n_segments": "7", "k_min": "2", "k_max": "10"})["n_segments"] == 7
    with pytest.raises(SettingsError, match="var n_segments must be 'auto' or a whole number from k_min to k_max"):
        parse_settings({"n_segments": "11", "k_min": "2", "k_max": "10"})
    with pytest.raises(SettingsError, match="var k_min must be at most var k_max"):
        parse_settings({"k_min": "6", "k_max": "5"})
    with pytest.raises(SettingsError, match="unknown var k_mni"):
        parse_settings({"k_mni": "2"})
    with pytest.raises(SettingsError, match="settings must be a mapping"):
        parse_settings(None)
    with pytest.raises(KeyError, match="setting k_max was not passed to parse_settings"):
        parse_settings({"k_min": "2"})["k_max"]


def test_dates_flags_choices_and_json_text():
    assert parse_value(BY_NAME["classifier_cutoff_date"], "2011-07-01") == datetime.date(2011, 7, 1)
    assert parse_value(BY_NAME["as_of_date"], "") is None and parse_value(BY_NAME["as_of_date"], "None") is None
    for bad in ("2011-02-30", "2011-7-1", "2011-07-01'"):
        with pytest.raises(SettingsError, match="var classifier_cutoff_date must be a date written YYYY-MM-DD or empty"):
            parse_value(BY_NAME["classifier_cutoff_date"], bad)
    # The split date is optional (empty: derived from the data's window); a required date is not.
    assert parse_value(BY_NAME["classifier_cutoff_date"], "") is None
    with pytest.raises(SettingsError, match="var min_invoice_date must be a date written YYYY-MM-DD, got"):
        parse_value(BY_NAME["min_invoice_date"], "")
    assert parse_value(BY_NAME["reset_segment_ids"], "True") is True
    assert parse_value(BY_NAME["reset_segment_ids"], False) is False
    assert parse_value(BY_NAME["csv_encoding"], "UTF-8") == "utf-8" and parse_value(BY_NAME["csv_encoding"], "") == "auto"
    assert parse_value(BY_NAME["csv_delimiter"], "\\t") == "\t" and parse_value(BY_NAME["csv_delimiter"], "") == ","
    # A real tab (YAML's double-quoted "\t") is the tab delimiter too, not blank text.
    assert parse_value(BY_NAME["csv_delimiter"], "\t") == "\t"
    assert parse_value(BY_NAME["column_map"], '{"customer_id": "client"}') == {"customer_id": "client"}
    assert parse_value(BY_NAME["column_map"], "{}") == {} and parse_value(BY_NAME["date_formats"], "[]") == []
    assert parse_value(BY_NAME["date_formats"], '["%d/%m/%Y %H:%M"]') == ["%d/%m/%Y %H:%M"]
    for name, bad in [("column_map", '["client"]'), ("column_map", "{not json"), ("date_formats", '["yesterday"]'),
                      ("date_formats", '{"a": "%d"}'), ("cancellation_marker", ""), ("cancellation_marker", " "),
                      ("cancellation_marker", "C" * 11),
                      ("cancellation_marker", "C\n"), ("transactions_path", ""), ("decimal_separator", ";")]:
        with pytest.raises(SettingsError, match=f"var {name} must be"):
            parse_value(BY_NAME[name], bad)


def test_env_vars_are_checked_with_their_defaults():
    assert check_environment({}) == {"SEGMENTS_DB": "customer_segments.build.duckdb",
                                     "SEGMENTS_PUBLISHED": "customer_segments.duckdb",
                                     "SEGMENTS_MEMORY_LIMIT": "3GB", "SEGMENTS_STORAGE_VERSION": "v1.3.0"}
    assert check_environment({"SEGMENTS_MEMORY_LIMIT": "512MiB"})["SEGMENTS_MEMORY_LIMIT"] == "512MiB"
    with pytest.raises(SettingsError, match='^env var SEGMENTS_STORAGE_VERSION must be a DuckDB storage version .*, got "v9"$'):
        check_environment({"SEGMENTS_STORAGE_VERSION": "v9"})
    # profiles.yml lets through only what the same patterns accept (the dbt run below shows it).
    profile = (ROOT / "profiles.yml").read_text()
    assert MEMORY_PATTERN.pattern in profile and STORAGE_VERSION_PATTERN.pattern in profile


def test_free_text_reaches_duckdb_only_as_parameters_and_quoted_identifiers(tmp_path):
    column = "client\"; drop table x; --"
    path = tmp_path / "it's; drop table x.csv"
    path.write_text(f"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,{column},Country\n"
                    "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n")
    with duckdb.connect() as con:
        settings = input_settings(path, column_map=f'{{"customer_id": "{column.replace(chr(34), chr(92) + chr(34))}"}}',
                                  date_formats="[\"%Y-%m-%d %H:%M:%S'); select 1; --\", \"%Y-%m-%d %H:%M:%S\"]")
        lines = load_transactions(con, settings).df()
    assert lines[["customer_id", "quantity"]].values.tolist() == [[17850, 6]]


# ---------------------------------------------------------------- one declaration for every reader

def _rendered_var_names(text: str) -> set[str]:
    return (set(re.findall(r"\bvar\(\s*'(\w+)'", text))
            | set(re.findall(r"(?:number_var|date_var|date_setting)\(\s*'(\w+)'", text)))


def test_every_var_read_anywhere_is_declared_and_build_settings_reads_them_all():
    texts = [p.read_text() for p in [*MODEL_YAML, *(ROOT / "models").rglob("*.sql"), *(ROOT / "macros").rglob("*.sql"),
                                     *(ROOT / "tests").rglob("*.sql")]]
    used = set().union(*map(_rendered_var_names, texts)) - {"name"}
    assert used <= set(BY_NAME), used - set(BY_NAME)
    config = yaml.safe_load((ROOT / "models/staging/build_settings.yml").read_text())["models"][0]["config"]["settings"]
    assert list(config) == [var.name for var in VARS]


def test_number_and_date_macros_use_the_declared_bounds():
    calls = 0
    for path in [*MODEL_YAML, *(ROOT / "models").rglob("*.sql"), *(ROOT / "macros").rglob("*.sql"),
                 *(ROOT / "tests").rglob("*.sql")]:
        for name, low, high, whole in re.findall(r"number_var\('(\w+)', ([0-9.e]+), ([0-9.e]+)(, whole=true)?\)",
                                                 path.read_text()):
            var = BY_NAME[name]
            assert (float(low), float(high), bool(whole)) == (var.low, var.high, var.kind == "whole"), (path, name)
            calls += 1
        for name in re.findall(r"date_var\('(\w+)'", path.read_text()):
            assert BY_NAME[name].kind == "date", (path, name)
    assert calls >= 5


def test_sql_and_data_test_arguments_never_read_a_var_raw():
    for path in [*(ROOT / "models").rglob("*.sql"), *(ROOT / "tests").rglob("*.sql")]:
        assert not re.search(r"\{\{ *var\(", path.read_text()), path

    def data_tests(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from (value if key in ("data_tests", "tests") and isinstance(value, list) else data_tests(value))
        elif isinstance(node, list):
            for item in node:
                yield from data_tests(item)

    for path in MODEL_YAML:
        for test in data_tests(yaml.safe_load(path.read_text())):
            assert "var(" not in re.sub(r"(number|date)_var\(", "", str(test)), (path, test)


# ---------------------------------------------------------------- real dbt runs

@pytest.mark.dbt
def test_injected_sub_query_fails_the_build_naming_the_var(tmp_path, generated_data):
    # The whole build: build_settings refuses the var, and nothing that reads it runs.
    result = run_dbt(["build"], tmp_path / "a.duckdb", tmp_path, {
        "transactions_path": str(generated_data["invoice_lines"]), "segment_top_products": HOSTILE[2]})
    assert result.returncode != 0
    assert 'var segment_top_products must be a whole number from 1 to 1000, got "(select count(*) from' in result.stdout
    with duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    # Every model descends from build_settings: only the seeds were loaded.
    assert tables <= {path.stem for path in (ROOT / "seeds").glob("*.csv")}, tables


@pytest.mark.dbt
def test_a_var_the_project_does_not_read_stops_the_run_before_anything_is_built(tmp_path, generated_data):
    # dbt accepts any var name; a misspelt or retired one would otherwise build as if it were not given.
    result = run_dbt(["build"], tmp_path / "u.duckdb", tmp_path, {
        "transactions_path": str(generated_data["invoice_lines"]), "forecast_calibration_end_date": "2011-07-01"})
    assert result.returncode != 0
    assert "unknown var forecast_calibration_end_date: this project reads no var of that name" in result.stdout
    with duckdb.connect(str(tmp_path / "u.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from information_schema.tables").fetchone()[0] == 0


@pytest.mark.dbt
def test_the_model_selected_alone_refuses_an_injected_copy(tmp_path, generated_data):
    """Without build_settings in the selection, the model's macro refuses the var before any SQL runs."""
    canary = tmp_path / "canary.csv"
    result = run_dbt(["build", "--select", "segment_product_purchases"], tmp_path / "b.duckdb", tmp_path, {
        "transactions_path": str(generated_data["invoice_lines"]),
        "segment_top_products": f"10; copy (select 1) to '{canary}'; select 1"})
    assert result.returncode != 0
    assert 'var segment_top_products must be a whole number from 1 to 1000, got "10; copy (select 1) to' in result.stdout
    assert not canary.exists()


@pytest.mark.dbt
def test_data_test_arguments_refuse_hostile_numbers(tmp_path, generated_data):
    hostile = {"k_min": "2 and 1=1) or (select count(*) from read_text('/etc/passwd')) > 0 or (1",
               "max_rejected_share": "0.05 or 1=1", "max_centroid_shift": "0.5) or (1=1"}
    tests = ["expression_is_true_segment_k_selection_k_between*", "outcome_share_at_most_line_accounting*",
             "accepted_range_customer_segments_centroid_shift*"]
    result = run_dbt(["test", "--select", *tests], tmp_path / "c.duckdb", tmp_path,
                     {"transactions_path": str(generated_data["invoice_lines"]), **hostile})
    assert result.returncode != 0 and "ERROR=3 " in result.stdout
    for name in hostile:
        assert f"var {name} must be a " in result.stdout, name


@pytest.mark.dbt
def test_a_hostile_memory_limit_stops_dbt_before_it_connects(tmp_path):
    """SEGMENTS_STORAGE_VERSION is guarded the same way (its pattern is checked in profiles.yml above)."""
    name, canary = "SEGMENTS_MEMORY_LIMIT", tmp_path / "canary.csv"
    env = {**os.environ, "SEGMENTS_DB": str(tmp_path / "d.duckdb"), name: f"3GB'; copy (select 1) to '{canary}'; --"}
    result = subprocess.run([str(DBT), "debug", "--log-path", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert f"Env var required but not provided: '{name} must be a " in result.stdout
    assert not canary.exists() and not (tmp_path / "d.duckdb").exists()


#: A sentinel for text vars: a quote and a statement, so it can only be harmless inside a quoted literal.
SENTINEL = "ZQX'; drop table x; --"


def _outside_sql_literals(sql: str) -> str:
    """The SQL with its single-quoted literals (quotes doubled inside) and quoted identifiers removed,
    read left to right so that a quote inside a comment does not start a literal (comments are kept)."""
    token = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
    return token.sub(lambda match: match.group(0) if match.group(0)[0] in "-/" else "''", sql)


def _outside_python_strings(code: str) -> str:
    return " ".join(token.string for token in tokenize.generate_tokens(io.StringIO(code).readline)
                    if token.type != tokenize.STRING)


@pytest.mark.dbt
def test_compiled_sql_holds_var_text_only_inside_quoted_literals(tmp_path, generated_data):
    text_vars = {var.name: SENTINEL for var in VARS if var.kind in ("path", "choice")}
    text_vars["n_segments"] = SENTINEL
    text_vars["cancellation_marker"] = "ZQX';--"
    text_vars["column_map"] = {"customer_id": SENTINEL}
    text_vars["date_formats"] = [f"%Y {SENTINEL}"]
    # first_purchase_features asks product_categories for its categories while it compiles.
    with duckdb.connect(str(tmp_path / "e.duckdb")) as con:
        con.execute("create table product_categories as select 1 as category_id")
    result = run_dbt(["compile"], tmp_path / "e.duckdb", tmp_path, text_vars)
    assert result.returncode == 0, result.stdout[-3000:]
    compiled = [path for path in (tmp_path / "target" / "compiled").rglob("*") if path.is_file()]
    assert len([p for p in compiled if p.suffix == ".sql"]) > 200
    found = set()
    for path in compiled:
        code = path.read_text()
        found |= {path.name} if "ZQX" in code else set()
        outside = _outside_python_strings(code) if path.suffix == ".py" else _outside_sql_literals(code)
        assert "ZQX" not in outside, path
    # The sentinel did reach the compiled code: the configs of the Python models, the marker's literal.
    assert {"build_settings.py", "base_retail__invoice_lines.py", "segment_k_selection.py",
            "stg_retail__invoice_lines.sql"} <= found
