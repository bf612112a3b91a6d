"""Acceptance on the real UCI Online Retail data (skipped when ../shared/data is absent)."""

import pytest

pytestmark = [pytest.mark.dbt, pytest.mark.real_data]

REAL_LINES = 541_909


def test_real_build_passes_every_test(real_build):
    assert "ERROR=0" in real_build.output


def test_every_real_line_is_accounted_for(real_build):
    assert real_build.scalar("select sum(input_lines) from line_accounting") == REAL_LINES
    accounted = dict(real_build.query("select outcome, input_lines from line_accounting"))
    # Published facts of the data set: 5,268 exact duplicate lines, 135,080 lines without customer
    # (some of which are duplicates of each other, hence fewer here).
    assert accounted["duplicate_copy"] == 5268
    assert 130_000 < accounted["missing_customer"] <= 135_080


def test_real_headline_figures(real_build):
    customers, net, gross, cancelled = real_build.query(
        "select count(*), sum(monetary), sum(gross_spend), sum(cancelled_value) from customer_rfm")[0]
    assert 4_300 <= customers <= 4_372
    assert net == gross - cancelled
    unmatched = real_build.scalar("select sum(unmatched_value) from cancellations")
    print(f"customers={customers} net={net} gross={gross} cancelled={cancelled} unmatched={unmatched}")
    assert 0 < cancelled < gross and unmatched > 0
    sizes = [row[0] for row in real_build.query("select customers from segment_profiles order by segment_id")]
    assert sum(sizes) == real_build.scalar("select count(*) from customer_rfm where monetary > 0")
