"""One self-contained, offline HTML report built only from the published database.

What BI users see is what the report shows: every figure is read from the published DuckDB file,
opened read-only. Plotly's JavaScript is inlined once (no CDN, nothing fetched when the page opens;
no map traces, which would fetch map tiles). Each section is drawn only when its tables exist (k selection,
algorithm comparison, product categories, predictions and the forecast each need their marts) and hold
rows (a model the build skipped writes an empty table, and the section "What this build skipped" lists
table build_notes), so the report never fails on a database built by an older version of the project
or on a shop too small for some models.

The page opens with what a marketer needs (what the build read and when, the headline, segment sizes and
revenue, the monthly trend per segment, what each segment buys, what to do with each with its export file
and top customers) and keeps the model diagnostics for an appendix after it. Money shows as £ with two
decimals and counts as integers (:mod:`customer_segments.delivery.formats`); segments are in one order
everywhere, net revenue per customer, highest first.

The page and its parts are in :mod:`.page`, the sections in :mod:`.segment_sections`,
:mod:`.marketing_sections` (monthly trend, actions per segment), :mod:`.history_sections` (segments over
time, campaign sizing) and :mod:`.model_sections`; this module orders them and writes the file.

Usage::

    python -m customer_segments.delivery.report [--db customer_segments.duckdb] [--out reports/customer_segments.html]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from customer_segments.delivery.published import connect_published, run_reader_cli
from customer_segments.delivery.report.history_sections import campaign_sizing, segment_migration
from customer_segments.delivery.report.marketing_sections import monthly_trend, segment_actions
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
from customer_segments.delivery.report.page import Part, Report, Section, render
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
#: What a marketer reads, in page order: what the build read and when, the headline, sizes and revenue,
#: the monthly trend, what each segment buys, what to do with each (export files, top customers), then
#: the segments' profiles, countries, forecast and campaign sizing.
MARKETER_SECTIONS: tuple[Callable[[Report], Section | None], ...] = (
    build_facts,
    headline,
    build_notes,
    segment_sizes,
    monthly_trend,
    segment_purchases,
    segment_actions,
    segment_profiles,
    rfm_distributions,
    country_mix,
    purchase_forecast,
    campaign_sizing,
)
#: How the segments and predictions were made and how good they are, after the marketer's part.
APPENDIX_SECTIONS: tuple[Callable[[Report], Section | None], ...] = (
    k_selection,
    algorithm_comparison,
    segment_drivers,
    scatter_3d,
    segment_migration,
    classifier_performance,
    permutation_importance,
    new_customer_evaluation,
    forecast_backtest,
)
APPENDIX_TITLE = "Appendix: model diagnostics"
#: The page's parts, in order.
PARTS = (
    Part("", "", MARKETER_SECTIONS),
    Part(APPENDIX_TITLE, "How the segments and predictions were made and how well they hold: for an analyst "
         "checking the model, not needed to act on the segments.", APPENDIX_SECTIONS),
)


def write_report(db_path: Path, out_path: Path) -> Path:
    """Read ``db_path`` read-only and write the report to ``out_path`` (directories created)."""
    with connect_published(db_path) as con:
        page = render(Report(con), Path(db_path).name, PARTS)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path


def main(argv: list[str] | None = None) -> int:
    return run_reader_cli("Write the offline HTML report from the published database.", DEFAULT_OUT,
                          lambda db, out: f"report written to {write_report(db, out)}", argv)

