"""docs/tables.md is the one catalogue of what a build writes: it names every model of the project once
(and every seed); the README links to it and lists no table itself, no other page under docs/ keeps a
list of its own that could drift, and every link to a section of the README or of a docs page lands on
one of that page's headings."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT

CATALOGUE = ROOT / "docs" / "tables.md"
README = ROOT / "README.md"


def first_cells(markdown: str) -> list[str]:
    """The name in backticks that opens each table row, e.g. `customer_rfm` of | `customer_rfm` | ... |."""
    return re.findall(r"^\| `(\w+)`", markdown, re.M)


def project_names(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    return sorted(path.stem for path in (ROOT / folder).rglob("*") if path.suffix in suffixes)


def models() -> list[str]:
    return project_names("models", (".sql", ".py"))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip("# ").lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, not counting comment lines inside its code blocks."""
    found, in_code = set(), False
    for line in page.read_text().splitlines():
        in_code ^= line.startswith("```")
        if not in_code and line.startswith("#"):
            found.add(github_anchor(line))
    return found


def section_links(page: Path) -> list[tuple[Path, str]]:
    """Each link to a section of a markdown page, e.g. ](../README.md#tables) or ](#tables), as (page, anchor)."""
    links = re.findall(r"\]\(([\w./-]*?\.md)?#([\w-]+)\)", page.read_text())
    return [((page.parent / target).resolve() if target else page, anchor) for target, anchor in links]


def test_the_catalogue_lists_every_model_once_and_names_every_seed():
    catalogue = CATALOGUE.read_text()
    assert sorted(first_cells(catalogue)) == models()
    assert [seed for seed in project_names("seeds", (".csv",)) if f"`{seed}`" not in catalogue] == []


def test_the_readme_links_to_the_catalogue_and_lists_no_table():
    readme = README.read_text()
    assert "](docs/tables.md)" in readme
    assert sorted(set(first_cells(readme)) & set(models())) == []


def test_no_other_docs_page_keeps_its_own_table_list():
    pages = [page for page in (ROOT / "docs").glob("*.md") if page != CATALOGUE]
    rows = {page.name: sorted(set(first_cells(page.read_text())) & set(models())) for page in pages}
    assert {page: names for page, names in rows.items() if names} == {}


def test_every_link_to_a_section_lands_on_a_heading_of_its_page():
    pages = [README, *(ROOT / "docs").glob("*.md")]
    links = [(page, target, anchor) for page in pages for target, anchor in section_links(page)]
    broken = [f"{page.name} -> {target.name}#{anchor}" for page, target, anchor in links
              if not target.exists() or anchor not in anchors(target)]
    assert len(links) > 20
    assert broken == []
