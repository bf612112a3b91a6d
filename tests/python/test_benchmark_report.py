"""make bench rewrites only its own block of BENCHMARKS.md: the notes around it stay."""

from __future__ import annotations

from benchmarks.benchmark import BEGIN_MARK, END_MARK, write_report


def test_report_replaces_its_block_and_keeps_the_notes(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_report(path, "first figures\n")
    assert path.read_text() == f"{BEGIN_MARK}\nfirst figures\n{END_MARK}\n"
    path.write_text("# Benchmarks\n\nintro\n\n" + path.read_text() + "\n## History\n\nnotes\n")
    write_report(path, "second figures\n")
    assert path.read_text() == (f"# Benchmarks\n\nintro\n\n{BEGIN_MARK}\nsecond figures\n{END_MARK}\n"
                                "\n## History\n\nnotes\n")
