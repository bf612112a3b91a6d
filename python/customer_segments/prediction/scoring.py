"""Score a brand-new customer's first invoice with the models trained in the last build.

    python -m customer_segments.prediction.scoring first_invoice.csv [--db customer_segments.duckdb]

The lines (CSV or JSON records) need stock_code, quantity, unit_price and invoiced_at, and may carry
invoice_no, description, country and customer_id (one invoice and one customer when absent). Prints
the purchases, spend and probability of a repeat purchase each method of new_customer_model predicts
for the horizon after the invoice, and the segment the customer's horizon most likely falls in (the
classifier of segment_classifier_model) with the probability of each segment.

The features are not rebuilt here: the build's own dbt models compute them. The lines are written to a
file and `dbt run` builds the chain from the loader to first_purchase_features on it (loader, staging,
netting, invoices, customer_rfm: ``+first_purchase_features``) into a temporary DuckDB file, with the
vars the build used, read from its table build_settings. What the build learnt or was given is not
learnt again but copied from the build's file: product_categories (fitted on the build's descriptions)
and the seeds the chain reads (the non-merchandise codes as the build applied them). So the
cancellation marker, the non-merchandise codes, the plausibility limits, the netting and the feature
SQL are those of the build by construction; a test still compares scored customers with the build.
`dbt run`, not `dbt build`: the data tests check a whole build (accounting, reconciliation), not the
lines of one invoice.

Three vars are not the build's: transactions_path (the new lines), column_map (this module writes
the lines under the canonical column names) and as_of_date (unset: the build's as-of date rejects the
lines dated on or after it, and a new customer's invoice comes after the build's data by nature); and
customer_id_kind is the kind the build decided (build_input), not its 'auto': a few lines could look
like numbers where the build's ids are keys, and be read as other customers. A
set max_invoice_date is kept: it is a plausibility limit, and the reason a line is refused names it.

Why this design, of the three weighed:

- Running the models (this one) executes the same SQL with the same vars, every rule included, and
  resolves a var that depends on the day of the run (an empty max_invoice_date: today) as a build run
  today would. It costs a dbt start and parse, 6 to 8 s on a 2-core machine, however many customers
  the file holds.
  It runs the project's current SQL, so a project changed since the build should be rebuilt, as for the
  pickled model.
- The compiled SQL of the chain, stored at build time and run in an in-memory DuckDB, would be fast but
  holds the build's resolved values (the build day as max_invoice_date would refuse every later invoice),
  needs its relation names rewritten, and has no SQL for the loader, a Python model: a second path beside dbt.
- The per-invoice feature SQL in a macro shared with the model can only be rendered by dbt, and covers
  only the last step: the marker, the codes and the netting live in the models before it.

``score_first_invoice(db_path, lines)`` returns the result as a dict; ``first_invoice_features(db_path,
lines)`` the first_purchase_features rows of every customer in the lines.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import sklearn

import customer_segments
from customer_segments.ingest.errors import InputError
from customer_segments.prediction.first_purchase import ARTIFACT_FORMAT, ClassifierArtifact, prepare_features
from customer_segments.prediction.new_customer import NewCustomerModel, load_models
from customer_segments.settings import BY_NAME, check_environment, sql_identifier, sql_literal, vars_of_build

REQUIRED_LINE_COLUMNS = ("stock_code", "quantity", "unit_price", "invoiced_at")
#: The columns of the lines handed to the loader, under the names it finds without a column_map.
LINE_COLUMNS = ("invoice_no", "stock_code", "description", "quantity", "unit_price", "invoiced_at", "country",
                "customer_id")
#: The customer of lines without customer_id: one new customer.
NEW_CUSTOMER_ID = 0
#: The invoice of lines without invoice_no, and the one used when that starts with the cancellation marker.
NEW_INVOICE_NOS = ("NEW", "0")
#: The dbt project this package belongs to (python/customer_segments/prediction/ -> the project root).
PROJECT_DIR = Path(__file__).resolve().parents[3]
#: The models that make first_purchase_features from the lines; product_categories is learnt, so copied
#: (its input int_products_described still runs: a few rows nobody reads).
CHAIN_SELECTION = ("--select", "+first_purchase_features", "--exclude", "product_categories")
#: What the chain reads but does not build: the learnt categories and the seeds it refs.
BUILD_TABLES = ("product_categories", "non_merchandise_codes", "rfm_segment_rules")
#: The published file, as declared in customer_segments.settings (env SEGMENTS_PUBLISHED overrides it).
DEFAULT_DB = Path(str(BY_NAME["SEGMENTS_PUBLISHED"].default))


def load_artifact(db_path: str | Path) -> ClassifierArtifact:
    """The classifier saved by the last `dbt build` in the DuckDB file (table segment_classifier_model)."""
    path = Path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"DuckDB file {path} not found: run `dbt build` first or pass --db")
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        if "segment_classifier_model" not in tables:
            raise ValueError(f"{path} holds no segment_classifier_model table: build it with `dbt build`")
        artifact_format, trained_with, blob = con.execute(
            "select artifact_format, sklearn_version, model_pickle from segment_classifier_model").fetchone()
    if artifact_format != ARTIFACT_FORMAT:
        raise ValueError(f"the saved model has artifact format {artifact_format}, this package reads {ARTIFACT_FORMAT}: rebuild")
    if trained_with != sklearn.__version__:
        raise ValueError(f"the saved model was fitted with scikit-learn {trained_with}, this is {sklearn.__version__}: rebuild")
    # Our own build wrote this pickle; never point --db at a file you do not trust.
    return pickle.loads(blob)


def load_new_customer_models(db_path: str | Path) -> dict[str, NewCustomerModel]:
    """The new-customer models saved by the last build (table new_customer_model), by method; empty when
    the build skipped them (its build_notes say why)."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        try:
            table = con.execute("select * from new_customer_model order by method").df()
        except duckdb.CatalogException:
            raise ValueError(f"{db_path} holds no new_customer_model table: build it with `dbt build`") from None
    return load_models(table) if len(table) else {}


def read_lines(path: str | Path) -> pd.DataFrame:
    """Invoice lines from a .csv or .json (list of records) file.

    A CSV is read as text, every value as written (an empty field as empty): the loader parses the
    values as it parses the shop's export (whole quantities, decimal_separator, date_formats).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"invoice lines file {path} not found")
    if path.suffix.lower() == ".csv":
        lines = pd.read_csv(path, dtype=str, keep_default_na=False)
    elif path.suffix.lower() == ".json":
        lines = pd.DataFrame(json.loads(path.read_text()))
    else:
        raise ValueError(f"invoice lines must be a .csv or .json file, got {path.name}")
    return lines


def new_invoice_no(cancellation_marker: str) -> str:
    """The invoice number of lines that have none: one that is not a cancellation under the marker."""
    return next(no for no in NEW_INVOICE_NOS if not no.upper().startswith(cancellation_marker.upper()))


def loader_lines(lines: pd.DataFrame, cancellation_marker: str) -> pd.DataFrame:
    """The lines as the loader reads them: the canonical columns present, with an invoice number and a
    customer id when the lines have none. Values are left as given: parsing them is the loader's."""
    missing = [c for c in REQUIRED_LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise ValueError(f"invoice lines are missing columns {missing}; have {list(lines.columns)}")
    table = lines.loc[:, [c for c in LINE_COLUMNS if c in lines.columns]].reset_index(drop=True)
    if "invoice_no" not in table.columns:
        table.insert(0, "invoice_no", new_invoice_no(cancellation_marker))
    if "customer_id" not in table.columns:
        table["customer_id"] = NEW_CUSTOMER_ID
    return table


def build_settings(db_path: str | Path) -> dict[str, object]:
    """The dbt vars the build of ``db_path`` used (its table build_settings), checked."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        try:
            rows = dict(con.execute("select name, value from build_settings").fetchall())
        except duckdb.CatalogException:
            raise ValueError(f"{db_path} holds no build_settings table: build it with `dbt build`") from None
    return vars_of_build(rows)


def build_customer_id_kind(db_path: str | Path) -> str:
    """What the build's customer column held, as its loader decided it (build_input.customer_id_kind)."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        try:
            return str(con.execute("select customer_id_kind from build_input").fetchone()[0])
        except duckdb.CatalogException:
            raise ValueError(f"{db_path} holds no build_input table: build it with `dbt build`") from None
        except duckdb.BinderException:
            raise ValueError(f"{db_path} was built by an older version of the project (build_input has no "
                             "customer_id_kind): rebuild it") from None


def _copy_build_tables(db_path: Path, database: Path) -> None:
    with duckdb.connect(str(database)) as con:
        con.execute(f"attach {sql_literal(str(db_path.absolute()))} as build (read_only)")
        for table in BUILD_TABLES:
            try:
                con.execute(f"create table main.{sql_identifier(table)} as select * from build.main.{sql_identifier(table)}")
            except duckdb.CatalogException:
                raise ValueError(f"{db_path} holds no {table} table: build it with `dbt build`") from None


def _dbt_error(work: Path, output: str) -> str:
    """What failed in a dbt run: the error of each node that failed (of a Python model, the exception's
    last line; the loader's InputError without its class), else the end of dbt's output."""
    results = work / "target" / "run_results.json"
    failed = [result["message"] for result in json.loads(results.read_text())["results"]
              if result["status"] == "error" and result.get("message")] if results.is_file() else []
    if not failed:
        return "\n".join(line for line in output.strip().splitlines()[-10:] if line.strip())
    input_error = f"{InputError.__module__}.{InputError.__name__}: "
    shown = []
    for message in failed:
        if "Traceback" in message:
            message = message.strip().splitlines()[-1].strip()
        shown.append(message.removeprefix(input_error))
    return "; ".join(shown)


def _run_chain(project_dir: Path, database: Path, work: Path, dbt_vars: dict[str, object]) -> None:
    """`dbt run` of the chain into ``database``, with this interpreter and this package: the Python
    models (the loader) run the code and library versions of the scorer that checked the pickle."""
    if not (project_dir / "dbt_project.yml").is_file():
        raise ValueError(f"no dbt project at {project_dir}: pass the project directory (--project-dir)")
    # The project's profile writes SEGMENTS_DB. Without the DBT_* env vars of the caller, which could
    # point dbt at another profile or target, defer it, or make it build empty tables.
    env = {name: value for name, value in os.environ.items() if not name.startswith("DBT_")}
    package_root = str(Path(customer_segments.__file__).resolve().parents[1])
    env.update(SEGMENTS_DB=str(database), DO_NOT_TRACK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "dbt.cli.main", "run", *CHAIN_SELECTION, "--vars", json.dumps(dbt_vars),
               "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
               "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--no-use-colors"]
    result = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        # The loader names the file it read: here a temporary one, which says nothing to the caller.
        message = _dbt_error(work, result.stdout + result.stderr).replace(f"{dbt_vars['transactions_path']}: ", "")
        raise ValueError(f"the build's models refused the invoice lines: {message}")


def _why_no_purchase(con: duckdb.DuckDBPyConnection, customers: list[int]) -> str:
    """The lines of customers without a first purchase invoice, with what staging made of each."""
    rows = con.execute(
        "select customer_id, line_id, stock_code, line_status, status_reason from stg_retail__invoice_lines "
        "where customer_id in (select unnest($customers::bigint[])) order by customer_id, line_id limit 10",
        {"customers": customers}).fetchall()
    return "; ".join(f"customer {customer} line {line} ({code}): {status}" + (f", {reason}" if reason else "")
                     for customer, line, code, status, reason in rows)


def first_invoice_features(db_path: str | Path, lines: pd.DataFrame, project_dir: str | Path = PROJECT_DIR,
                           ) -> pd.DataFrame:
    """The first_purchase_features rows of the customers in ``lines``, computed by the build's models.

    Parameters
    ----------
    db_path : the DuckDB file of a build (its build_settings, product_categories and seeds are read).
    lines : invoice lines with at least :data:`REQUIRED_LINE_COLUMNS`; without customer_id they are one
        customer's (id :data:`NEW_CUSTOMER_ID`), without invoice_no one invoice.
    project_dir : the dbt project whose models run (default: the one this package belongs to).

    Returns
    -------
    DataFrame, one row per customer of the lines, ordered by customer_id, with the columns of the model.

    Raises
    ------
    ValueError
        Columns missing, a file-level problem the loader reports, or a customer without a purchase line
        (the message lists their lines and what staging made of them).
    """
    db_path, project_dir = Path(db_path), Path(project_dir)
    dbt_vars = build_settings(db_path)
    table = loader_lines(lines, str(dbt_vars["cancellation_marker"]))
    with tempfile.TemporaryDirectory(prefix="segments-scoring-") as directory:
        work = Path(directory)
        lines_path, database = work / "lines.parquet", work / "scoring.duckdb"
        table.to_parquet(lines_path, index=False)
        _copy_build_tables(db_path, database)
        _run_chain(project_dir, database, work,
                   {**dbt_vars, "transactions_path": str(lines_path), "column_map": {}, "as_of_date": "",
                    "customer_id_kind": build_customer_id_kind(db_path)})
        with duckdb.connect(str(database), read_only=True) as con:
            features = con.execute("select * from first_purchase_features order by customer_id").df()
            customers = [int(c) for c, in con.execute(
                "select distinct customer_id from stg_retail__invoice_lines where customer_id is not null "
                "order by 1").fetchall()]
            without = [c for c in customers if c not in set(features["customer_id"])]
            if without or not customers:
                raise ValueError("no purchase line: need a merchandise line with positive quantity and unit "
                                 f"price; {_why_no_purchase(con, without) or 'no line has a customer id'}")
    return features


def score_first_invoice(db_path: str | Path, lines: pd.DataFrame, project_dir: str | Path = PROJECT_DIR) -> dict:
    """Predicted segment and probabilities for a new customer's first invoice lines.

    Returns a dict: segment_id, segment_name, probabilities {segment_name: p}, model_name, model_version
    (the segment classifier, whose label is the segment of the customer's first horizon), horizon_days
    and predictions {method: {predicted_purchases, predicted_spend, probability_repeat, model_version}}
    over that horizon (empty, horizon_days None, when the build skipped the new-customer models).
    """
    artifact = load_artifact(db_path)
    models = load_new_customer_models(db_path)
    features = first_invoice_features(db_path, lines, project_dir)
    if len(features) != 1:
        raise ValueError(f"the lines are those of {len(features)} customers (column customer_id): score one at a time")
    proba = artifact.pipeline.predict_proba(prepare_features(features, artifact.feature_columns))[0]
    names = dict(zip(artifact.segment_ids, artifact.segment_names))
    by_class = {int(c): float(p) for c, p in zip(artifact.pipeline.classes_, proba)}
    best = max(artifact.segment_ids, key=lambda s: (by_class.get(s, 0.0), -s))
    return {
        "segment_id": best,
        "segment_name": names[best],
        "probabilities": {names[s]: by_class.get(s, 0.0) for s in artifact.segment_ids},
        "model_name": artifact.model_name,
        "model_version": artifact.model_version,
        "horizon_days": next((model.horizon_days for model in models.values()), None),
        "predictions": {method: {**{name: float(value) for name, value in model.predict(features).iloc[0].items()},
                                 "model_version": model.model_version} for method, model in models.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer_segments.prediction.scoring",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("lines", help="the new customer's invoice lines, .csv or .json")
    parser.add_argument("--db", type=Path, default=None,
                        help=f"DuckDB file of the last build (default: $SEGMENTS_PUBLISHED or {DEFAULT_DB})")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR,
                        help=f"dbt project whose models compute the features (default: {PROJECT_DIR})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        # The env vars, the profile's of the dbt run among them, are checked before anything runs.
        environment = check_environment()
        db = args.db or Path(str(environment["SEGMENTS_PUBLISHED"]))
        result = score_first_invoice(db, read_lines(args.lines), args.project_dir)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if result["predictions"]:
        print(f"in the {result['horizon_days']} days after this invoice:")
        for method, predicted in result["predictions"].items():
            print(f"  {method:24} {predicted['predicted_purchases']:6.2f} purchases  "
                  f"{predicted['predicted_spend']:10.2f} spend  {predicted['probability_repeat']:6.1%} repeat")
    print(f"segment: {result['segment_name']} (id {result['segment_id']}), of the first {result['horizon_days']} days")
    for name, probability in sorted(result["probabilities"].items(), key=lambda item: -item[1]):
        print(f"  {probability:6.1%}  {name}")
    print(f"model: {result['model_name']} {result['model_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
