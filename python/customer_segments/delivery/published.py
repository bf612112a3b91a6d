"""The published file: where it and the working file are, the storage format it is written in, and what
its readers (report, exports, summary) share: a read-only connection and the command line.

The paths come from their declaration in :mod:`customer_segments.settings` (``SEGMENTS_DB``,
``SEGMENTS_PUBLISHED``, ``SEGMENTS_STORAGE_VERSION``), parsed as the profile and the publisher parse them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from customer_segments.settings import BY_NAME, check_environment, parse_value

#: Where dbt writes (the profile reads the same variable); relative to the project root.
DEFAULT_WORKING = Path(str(BY_NAME["SEGMENTS_DB"].default))
#: The file BI tools, the report and the exports read; relative to the project root.
DEFAULT_PUBLISHED = Path(str(BY_NAME["SEGMENTS_PUBLISHED"].default))


def _env_path(name: str, environ: dict[str, str] | None) -> Path:
    """The path env var ``name`` holds, or its declared default, checked by the settings parser."""
    var = BY_NAME[name]
    return Path(str(parse_value(var, (environ if environ is not None else os.environ).get(name, var.default))))


def working_path(environ: dict[str, str] | None = None) -> Path:
    """The working file dbt writes: env ``SEGMENTS_DB`` or :data:`DEFAULT_WORKING`."""
    return _env_path("SEGMENTS_DB", environ)


def published_path(environ: dict[str, str] | None = None) -> Path:
    """The served file: env ``SEGMENTS_PUBLISHED`` or :data:`DEFAULT_PUBLISHED`."""
    return _env_path("SEGMENTS_PUBLISHED", environ)


def storage_version(environ: dict[str, str] | None = None) -> str:
    """The storage format to write: env ``SEGMENTS_STORAGE_VERSION``, checked as the profile checks it."""
    return str(check_environment(environ)["SEGMENTS_STORAGE_VERSION"])


def connect_published(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published file, with a clear error when it is not there."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: published database not found; run `python -m customer_segments.delivery.publish`")
    return duckdb.connect(str(path), read_only=True)


def run_reader_cli(description: str, default_out: Path, action: Callable[..., str],
                   argv: list[str] | None = None, flags: dict[str, str] | None = None) -> int:
    """The command line shared by the readers of the published file (report, exports).

    ``action(db_path, out_path)`` does the work and returns what to print; its FileNotFoundError or
    ValueError becomes a one-line error and exit code 2. ``flags`` (option -> help, e.g.
    ``{"--all-in-one": ...}``) adds on/off options, passed to the action as keywords (``all_in_one=``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", type=Path, default=None, help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    parser.add_argument("--out", type=Path, default=default_out, help=f"default: {default_out}")
    for option, text in (flags or {}).items():
        parser.add_argument(option, action="store_true", help=text)
    args = parser.parse_args(argv)
    names = [option.lstrip("-").replace("-", "_") for option in flags or {}]
    try:
        print(action(args.db or published_path(), args.out, **{name: getattr(args, name) for name in names}))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
