"""Build into a working DuckDB file, then publish it atomically to the file readers use.

DuckDB allows one writer or many readers per file. A BI tool holding the served file open would make
`dbt build` fail to take its lock, and a reader opening mid-build would see half a build. So dbt
writes to a working file (``SEGMENTS_DB``) and, only when every model and test passed, a copy of it
replaces the served file (``SEGMENTS_PUBLISHED``) with one ``os.replace``: a rename within one
directory, atomic on POSIX. Readers already connected keep the old file's inode, a consistent
snapshot, until they reconnect; new connections open the new build. A failed build publishes nothing.

Usage::

    python -m customer_segments.publish [any dbt build arguments, e.g. --vars '{...}']
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

#: Where dbt writes (the profile reads the same variable); relative to the project root.
DEFAULT_WORKING = Path("customer_segments.build.duckdb")
#: The file BI tools, the report and the exports read; relative to the project root.
DEFAULT_PUBLISHED = Path("customer_segments.duckdb")


class PublishError(RuntimeError):
    """The build failed or the working file cannot be published; the served file is untouched."""


def working_path(environ: dict[str, str] | None = None) -> Path:
    """The working file dbt writes: env ``SEGMENTS_DB`` or :data:`DEFAULT_WORKING`."""
    return Path((environ if environ is not None else os.environ).get("SEGMENTS_DB", DEFAULT_WORKING))


def published_path(environ: dict[str, str] | None = None) -> Path:
    """The served file: env ``SEGMENTS_PUBLISHED`` or :data:`DEFAULT_PUBLISHED`."""
    return Path((environ if environ is not None else os.environ).get("SEGMENTS_PUBLISHED", DEFAULT_PUBLISHED))


def connect_published(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published file, with a clear error when it is not there."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: published database not found; run `python -m customer_segments.publish`")
    return duckdb.connect(str(path), read_only=True)


def run_reader_cli(description: str, default_out: Path, action: Callable[[Path, Path], str],
                   argv: list[str] | None = None) -> int:
    """The command line shared by the readers of the published file (report, exports).

    ``action(db_path, out_path)`` does the work and returns what to print; its FileNotFoundError or
    ValueError becomes a one-line error and exit code 2.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", type=Path, default=None, help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    parser.add_argument("--out", type=Path, default=default_out, help=f"default: {default_out}")
    args = parser.parse_args(argv)
    try:
        print(action(args.db or published_path(), args.out))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry itself reaches the disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(working: Path, published: Path) -> Path:
    """Atomically replace ``published`` with a checkpointed copy of ``working``.

    Parameters
    ----------
    working : Path
        A DuckDB file no other process is writing (dbt has exited).
    published : Path
        The served file; its directory is created if needed.

    Returns
    -------
    Path
        ``published``.

    Raises
    ------
    PublishError
        When ``working`` is missing, or the served file has a write-ahead log (something wrote to it,
        and the log would be replayed onto the new file).
    """
    working, published = Path(working), Path(published)
    if not working.is_file():
        raise PublishError(f"{working}: working database not found; run the build first")
    if Path(f"{published}.wal").exists():
        raise PublishError(
            f"{published}.wal exists: a process opened the published file read-write. Readers must open it "
            "read-only; stop that process and remove the .wal file before publishing."
        )
    # Fold any write-ahead log into the working file so that the copy is the whole database.
    with duckdb.connect(str(working)) as con:
        con.execute("checkpoint")
    published.parent.mkdir(parents=True, exist_ok=True)
    # The temporary copy lives in the target directory: os.replace is atomic only within one file system.
    temporary = published.parent / f".{published.name}.{os.getpid()}.publishing"
    try:
        shutil.copyfile(working, temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        # Refuse to serve a copy that does not open.
        with duckdb.connect(str(temporary), read_only=True) as con:
            con.execute("select count(*) from information_schema.tables").fetchone()
        os.replace(temporary, published)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(published.parent)
    return published


def build_and_publish(dbt_args: list[str], working: Path, published: Path, project_dir: Path) -> int:
    """Run ``dbt build`` on ``working``; publish to ``published`` only if it succeeded.

    Returns dbt's exit code (0 when published). dbt's output goes to this process's stdout/stderr.
    """
    working = Path(working).resolve()
    working.parent.mkdir(parents=True, exist_ok=True)
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if dbt is None:
        raise PublishError("dbt executable not found next to this Python or on PATH")
    env = {**os.environ, "SEGMENTS_DB": str(working)}
    result = subprocess.run([dbt, "build", *dbt_args], cwd=project_dir, env=env)
    if result.returncode != 0:
        print(f"dbt build failed (exit {result.returncode}): {published} left as it was", file=sys.stderr)
        return result.returncode
    publish(working, published)
    print(f"published {working} -> {published}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="dbt build into the working file (SEGMENTS_DB), then publish it atomically to "
                    "SEGMENTS_PUBLISHED. Unknown arguments go to `dbt build`.")
    parser.add_argument("--working", type=Path, default=None, help=f"default: $SEGMENTS_DB or {DEFAULT_WORKING}")
    parser.add_argument("--published", type=Path, default=None,
                        help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="dbt project root (default: cwd)")
    args, dbt_args = parser.parse_known_args(argv)
    working = args.working or working_path()
    published = args.published or published_path()
    try:
        return build_and_publish(dbt_args, working, published, args.project_dir)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
