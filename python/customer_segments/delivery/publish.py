"""Build into a working DuckDB file, then publish a fresh copy of it atomically to the file readers use.

DuckDB allows one writer or many readers per file. A BI tool holding the served file open would make
`dbt build` fail to take its lock, and a reader opening mid-build would see half a build. So dbt
writes to a working file (``SEGMENTS_DB``) and, only when every model, seed and test of the project
ran and passed, a new file replaces the served file (``SEGMENTS_PUBLISHED``) with one ``os.replace``:
a rename within one file system, atomic on POSIX.

What may be published and how dbt runs as a child: :mod:`customer_segments.delivery.dbt_process`;
the fresh copy, its mode and owner, the lock and the replacement:
:mod:`customer_segments.delivery.file_replacement`; the paths readers use:
:mod:`customer_segments.delivery.published`.

Usage::

    python -m customer_segments.delivery.publish [--no-wait] [any dbt build arguments, e.g. --vars '{...}']
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from customer_segments.delivery.build_info import describe_build, input_of
from customer_segments.delivery.dbt_process import (
    Interrupted,
    completed_relations,
    dbt_target_path,
    find_dbt,
    planned_input,
    refuse_partial_build,
    signals_interrupt,
    start_dbt_build,
    wait_for_dbt,
)
from customer_segments.delivery.file_replacement import (
    Published,
    PublishError,
    publish_lock,
    publish_locked,
    refuse_same_file,
    served_file,
)
from customer_segments.delivery.published import (
    DEFAULT_PUBLISHED,
    DEFAULT_WORKING,
    published_path,
    storage_version,
    working_path,
)
from customer_segments.delivery.segment_history import renamed_segment_lines
from customer_segments.settings import SettingsError, check_environment


def _describe(result: Published, working: Path) -> str:
    return (f"published {working} -> {result.path}: {result.size_bytes:,} bytes, {len(result.tables)} tables, "
            f"{len(result.views)} views, mode {result.mode:04o}, owner {result.uid}:{result.gid} "
            f"({result.owner_note})\ntables: {', '.join(result.tables)}\nviews: {', '.join(result.views)}")


#: Exit code of a publish refused under --keep-other-input: the served file was built from another input.
OTHER_INPUT = 3


def other_input(planned: str, published: Path) -> str | None:
    """Why a build of input ``planned`` must not replace ``published`` under --keep-other-input: the served
    file's build_info names another input (None when it names the same one, or there is no served file or
    no build_info)."""
    served = input_of(str(published)) if published.exists() else None
    if served is None or served == planned:
        return None
    return (f"not built, not published: {published} was built from {served}, this build would read {planned}; "
            "run `make demo FORCE=1` (or publish without --keep-other-input) to replace it")


def build_and_publish(dbt_args: list[str], working: Path, published: Path, project_dir: Path,
                      wait: bool = True, keep_other_input: bool = False) -> int:
    """Run ``dbt build`` on ``working``; publish to ``published`` only if every node ran and passed.

    The publish lock is held from before the build to the end, so that publishes of one file run one
    after the other. dbt runs in its own process group: SIGINT or SIGTERM is forwarded to it, dbt is
    waited for, temporary files are removed and the exit code is 128 + the signal number. With
    ``keep_other_input`` a served file built from another input is left as it was, before dbt runs
    (OTHER_INPUT). Returns
    dbt's exit code, 2 for a refusal, 0 when published. dbt's output goes to this process's stdout/stderr.
    """
    working, published = Path(working).absolute(), served_file(published)
    refuse_partial_build(dbt_args)
    refuse_same_file(working, published)
    storage_version()
    dbt = find_dbt()
    target_path = dbt_target_path(dbt_args, project_dir)
    working.parent.mkdir(parents=True, exist_ok=True)
    published.parent.mkdir(parents=True, exist_ok=True)
    served_inode: int | None = -1   # the served file's inode once the lock is held (None: no file yet)
    done: Published | None = None
    process: subprocess.Popen | None = None
    with signals_interrupt():
        try:
            with publish_lock(published, wait):
                served_inode = published.stat().st_ino if published.exists() else None
                refusal = other_input(planned_input(dbt_args, project_dir), published) if keep_other_input else None
                if refusal is not None:
                    print(refusal, file=sys.stderr)
                    return OTHER_INPUT
                started = time.time()
                if working.exists():
                    working.chmod(0o600)  # as the dbt child's umask makes a new one: readers use the served file
                process = start_dbt_build(dbt, dbt_args, project_dir, working)
                returncode = wait_for_dbt(process)
                if returncode != 0:
                    print(f"dbt build failed (exit {returncode}): {published} left as it was", file=sys.stderr)
                    return returncode
                relations = completed_relations(target_path, working, since=started)
                done = publish_locked(working, published, relations)
        except Interrupted as interrupted:
            # A signal right after the rename still finds the new file served.
            replaced = served_inode != -1 and published.exists() and published.stat().st_ino != served_inode
            state = "published" if replaced else "left as it was"
            stopped = "dbt stopped, " if process is not None else ""
            print(f"interrupted by {signal.Signals(interrupted.signum).name}: {stopped}{published} {state}",
                  file=sys.stderr)
            return 128 + interrupted.signum
    # What the build read comes first, so that no publish leaves its input unnamed; a segment renamed
    # under its kept id last, one line each (table segment_id_history).
    print("\n".join([*describe_build(str(done.path)), _describe(done, working), *renamed_segment_lines(str(done.path))]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="dbt build into the working file (SEGMENTS_DB), then publish a fresh copy atomically to "
                    "SEGMENTS_PUBLISHED. Unknown arguments go to `dbt build`; selection options are refused.")
    parser.add_argument("--working", type=Path, default=None, help=f"default: $SEGMENTS_DB or {DEFAULT_WORKING}")
    parser.add_argument("--published", type=Path, default=None,
                        help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="dbt project root (default: cwd)")
    parser.add_argument("--no-wait", action="store_true",
                        help="exit with a message instead of waiting when another publish of the file runs")
    parser.add_argument("--keep-other-input", action="store_true",
                        help="leave the published file as it is when it was built from another input "
                             "(what `make demo` passes, so a demo never replaces a publish of your own data)")
    args, dbt_args = parser.parse_known_args(argv)
    try:
        check_environment()
        working = args.working or working_path()
        published = args.published or published_path()
        return build_and_publish(dbt_args, working, published, args.project_dir, wait=not args.no_wait,
                                 keep_other_input=args.keep_other_input)
    except (PublishError, OSError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
