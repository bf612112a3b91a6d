"""The README's table list is the one catalogue of what a build writes: it names every model of the
project once (and every seed), and no page under docs/ keeps a list of its own that could drift."""

from __future__ import annotations

import re

from conftest import ROOT


def readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def first_cells(markdown: str) -> list[str]:
    """The name in backticks that opens each table row, e.g. `customer_rfm` of | `customer_rfm` | ... |."""
    return re.findall(r"^\| `(\w+)`", markdown, re.M)


def project_names(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    return sorted(path.stem for path in (ROOT / folder).rglob("*") if path.suffix in suffixes)


def test_the_readme_lists_every_model_once_and_names_every_seed():
    section = readme_section("The tables")
    assert sorted(first_cells(section)) == project_names("models", (".sql", ".py"))
    assert [seed for seed in project_names("seeds", (".csv",)) if f"`{seed}`" not in section] == []


def test_no_docs_page_keeps_its_own_table_list():
    models = set(project_names("models", (".sql", ".py")))
    rows = {page.name: sorted(set(first_cells(page.read_text())) & models) for page in (ROOT / "docs").glob("*.md")}
    assert {page: names for page, names in rows.items() if names} == {}
