"""The core stands alone and selections build: real `dbt build --select` runs on the embedded data.

- `+customer_segments` into a fresh file (the selection that once failed on 7 tests whose other parents
  were not selected), then the rest of the core into the same file, then `segment_profiles` alone on it
  (a model with tests on two parents): tests run only when all their parents are selected
  (dbt_project.yml: indirect_selection cautious).
- the core without any prediction model (`+segment_profiles` and the other tables the report's first
  sections and the exports read): segment_profiles, the report and the exports are made from it, the
  report naming the sections it leaves out.
- `customer_segments+` lists exactly that model and its descendants (the dbt project is named
  shop_segments, so the name selects the model, not every node); `customer_segments` and
  `segment_id_history` rebuilt on a copy of the whole build leave segment_id_history holding both
  builds' rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import PARSED_DB_NAME, Build, run_dbt
from customer_segments.delivery.exports import write_exports
from customer_segments.delivery.report import write_report

pytestmark = pytest.mark.dbt

#: What the report's first sections and the exports read, each with its ancestors: the core.
CORE_SELECTION = ["+segment_profiles", "+build_headline", "+build_info", "+segment_by_country", "+campaign_groups",
                  "+customer_orders"]


def build(work: Path, db_path: Path, data: Path, *select: str) -> dict:
    """`dbt build --select ...` into db_path; its run results by node."""
    result = run_dbt(["build", "--select", *select], db_path, work, {"transactions_path": str(data)}, write_json=True)
    assert result.returncode == 0, result.stdout[-5000:]
    results = json.loads((work / "target" / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    assert [uid for uid, status in statuses.items() if status not in ("success", "pass", "no-op")] == []
    return statuses


def listed(work: Path, db_path: Path, selection: str) -> set[str]:
    result = run_dbt(["ls", "--select", selection, "--resource-type", "model", "--output", "name", "-q"],
                     db_path, work, write_json=True)
    assert result.returncode == 0, result.stdout[-3000:]
    return set(result.stdout.split())


def parents(work: Path) -> dict[str, list[str]]:
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    return {uid: node.get("depends_on", {}).get("nodes", []) for uid, node in manifest["nodes"].items()}


def tables(db_path: Path) -> set[str]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}


@pytest.fixture(scope="module")
def upstream_of_segments(tmp_path_factory, generated_data) -> tuple[Path, Path, dict]:
    work = tmp_path_factory.mktemp("select-upstream")
    db_path = work / PARSED_DB_NAME  # the name that lets dbt start from the session's parse (conftest.run_dbt)
    return work, db_path, build(work, db_path, generated_data["invoice_lines"], "+path:models/marts/customer_segments.py")


def test_upstream_of_customer_segments_builds_and_tests_only_what_it_built(upstream_of_segments):
    work, db_path, statuses = upstream_of_segments
    built = {uid for uid in statuses if not uid.startswith(("test.", "unit_test."))}
    tests = [uid for uid in statuses if uid.startswith("test.")]
    assert "model.shop_segments.customer_segments" in built and "model.shop_segments.segment_profiles" not in built
    assert len(tests) > 50
    graph = parents(work)
    assert [uid for uid in tests if not set(graph[uid]) <= built] == []
    assert {"customer_rfm", "customer_segments"} <= tables(db_path)


def test_one_model_with_tests_on_two_parents_builds_alone(upstream_of_segments, generated_data, tmp_path):
    work, db_path, _ = upstream_of_segments
    statuses = build(tmp_path, db_path, generated_data["invoice_lines"], "segment_profiles")
    graph = parents(tmp_path)
    # segment_profiles' tests that also read customer_rfm or customer_segments are not selected ...
    two_parents = [uid for uid, deps in graph.items() if uid.startswith("test.")
                   and "model.shop_segments.segment_profiles" in deps and len(set(deps)) > 1]
    assert two_parents and not set(two_parents) & set(statuses)
    # ... its own are.
    assert any(uid.startswith("test.shop_segments.unique_segment_profiles_segment_id") for uid in statuses)
    assert "model.shop_segments.segment_profiles" in statuses


@pytest.fixture(scope="module")
def core_only(upstream_of_segments, generated_data) -> Build:
    """The core in a fresh file: `+customer_segments` (above), then the rest of the core into the same file.
    No model of models/marts/predictions is built."""
    work, db_path, _ = upstream_of_segments
    rest = run_dbt(["build", "--select", *CORE_SELECTION, "--exclude", "+path:models/marts/customer_segments.py"],
                   db_path, work / "rest", {"transactions_path": str(generated_data["invoice_lines"])})
    assert rest.returncode == 0, rest.stdout[-5000:]
    return Build(db_path, generated_data["invoice_lines"], 0, "")


def test_the_core_builds_without_any_prediction_model(core_only):
    from conftest import ROOT

    predictions = {path.stem for path in (ROOT / "models" / "marts" / "predictions").iterdir()
                   if path.suffix in (".sql", ".py")}
    built = tables(core_only.db_path)
    assert {"segment_profiles", "build_headline", "build_info", "campaign_groups", "customer_segments"} <= built
    assert predictions and not predictions & built
    assert core_only.scalar("select sum(customers) from segment_profiles") == \
        core_only.scalar("select count(*) from customer_segments")


def test_report_and_exports_from_the_core_alone(core_only, tmp_path):
    page = write_report(core_only.db_path, tmp_path / "report.html").read_text()
    for title in ("What this build read", "Headline figures", "Segment sizes and revenue", "Monthly trend per segment",
                  "What to do with each segment", "Segment profiles"):
        assert f"<h2>{title}</h2>" in page
    assert "<h2>Left out of this report</h2>" in page
    assert "<li>Purchase forecast: segment_purchase_forecast not built</li>" in page
    assert "<h2>Purchase forecast</h2>" not in page
    write_exports(core_only.db_path, tmp_path / "exports", key=None)
    manifest = json.loads((tmp_path / "exports" / "manifest.json").read_text())
    sizes = dict(core_only.query("select segment_id, customers from segment_profiles"))
    assert {s["segment_id"]: s["customers"] for s in manifest["segments"]} == sizes
    # No prediction columns, and the manifest and README.txt say why.
    assert not {"predicted_spend_next_horizon", "churn_risk", "clv"} & set(manifest["columns"])
    assert {part: value["included"] for part, value in manifest["predictions"].items()} == \
        {"purchases_and_spend": False, "churn_risk": False, "clv": False}
    assert "customer_purchase_forecast is not in this database" in (tmp_path / "exports" / "README.txt").read_text()
    assert manifest["as_of_date"] == core_only.scalar("select as_of_date from build_info").isoformat()


def test_customer_segments_plus_selects_that_model_and_its_descendants(tmp_path):
    selected = listed(tmp_path, tmp_path / PARSED_DB_NAME, "customer_segments+")
    assert "customer_segments" in selected and "customer_rfm" not in selected and "build_settings" not in selected
    graph = parents(tmp_path)
    descendants, frontier = set(), {"model.shop_segments.customer_segments"}
    while frontier:
        descendants |= frontier
        frontier = {uid for uid, deps in graph.items() if uid.startswith("model.") and set(deps) & frontier} - descendants
    assert selected == {uid.split(".")[-1] for uid in descendants}


def test_segment_id_history_holds_every_build_of_the_working_file(copy_of_build, generated_build, tmp_path):
    """customer_segments and segment_id_history rebuilt on a copy of the whole build: a second build of
    the same working file."""
    statuses = build(tmp_path, copy_of_build.db_path, generated_build.data_path,
                     "customer_segments", "segment_profiles", "segment_id_history")
    assert "model.shop_segments.segment_id_history" in statuses
    with duckdb.connect(str(copy_of_build.db_path), read_only=True) as con:
        builds = con.execute("select build_started_at, count(*), list(segment_name order by segment_id) "
                             "from segment_id_history group by all order by 1").fetchall()
        profiles = con.execute("select count(*) from segment_profiles").fetchone()[0]
        info = con.execute("select build_started_at from build_info").fetchone()[0]
    assert len(builds) == 2 and builds[0][0] < builds[1][0]
    # The first is the whole build's (its build_info), the second this selection's, one row per segment.
    assert builds[0][0] == info and builds[1][1] == profiles
    # The same input again: the same segments, ids kept, names unchanged.
    assert builds[0][2] == builds[1][2]
    assert generated_build.scalar("select count(distinct build_started_at) from segment_id_history") == 1
