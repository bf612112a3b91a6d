"""One self-contained, offline HTML report built only from the published database.

What BI users see is what the report shows: every figure is read from the published DuckDB file,
opened read-only. Plotly's JavaScript is inlined once (no CDN, nothing fetched when the page opens;
no map traces, which would fetch map tiles). Each section is drawn only when its tables exist (k selection,
algorithm comparison, product categories, predictions and the forecast each need their marts) and hold
rows (a model the build skipped writes an empty table, and the section "What this build skipped" lists
table build_notes), so the report never fails on a database built by an older version of the project
or on a shop too small for some models.

The page and its parts are in :mod:`.page`, the sections in :mod:`.segment_sections`,
:mod:`.history_sections` (segments over time, campaign sizing) and :mod:`.model_sections`;
this module orders them and writes the file.

Usage::

    python -m customer_segments.delivery.report [--db customer_segments.duckdb] [--out reports/customer_segments.html]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from customer_segments.delivery.published import connect_published, run_reader_cli
from customer_segments.delivery.report.history_sections import campaign_sizing, segment_migration
from customer_segments.delivery.report.model_sections import (
    algorithm_comparison,
    classifier_performance,
    forecast_backtest,
    k_selection,
    new_customer_evaluation,
    permutation_importance,
    purchase_forecast,
    segment_drivers,
)
from customer_segments.delivery.report.page import Report, Section, render
from customer_segments.delivery.report.segment_sections import (
    build_facts,
    build_notes,
    country_mix,
    headline,
    rfm_distributions,
    scatter_3d,
    segment_profiles,
    segment_purchases,
    segment_sizes,
)

DEFAULT_OUT = Path("reports/customer_segments.html")
#: The sections, in page order.
SECTIONS: tuple[Callable[[Report], Section | None], ...] = (
    build_facts,
    headline,
    build_notes,
    segment_sizes,
    segment_profiles,
    rfm_distributions,
    scatter_3d,
    k_selection,
    algorithm_comparison,
    segment_drivers,
    country_mix,
    segment_purchases,
    segment_migration,
    campaign_sizing,
    new_customer_evaluation,
    classifier_performance,
    permutation_importance,
    purchase_forecast,
    forecast_backtest,
)


def write_report(db_path: Path, out_path: Path) -> Path:
    """Read ``db_path`` read-only and write the report to ``out_path`` (directories created)."""
    with connect_published(db_path) as con:
        page = render(Report(con), Path(db_path).name, SECTIONS)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path


def main(argv: list[str] | None = None) -> int:
    return run_reader_cli("Write the offline HTML report from the published database.", DEFAULT_OUT,
                          lambda db, out: f"report written to {write_report(db, out)}", argv)

