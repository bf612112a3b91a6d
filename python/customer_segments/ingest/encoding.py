"""Which encoding a CSV file is in, and a utf-8 copy of a utf-16 file for DuckDB to read.

Exports from older Windows tools write the pound sign as the single latin-1 byte 0xA3; Excel's
"Unicode text" export writes utf-16 with a byte-order mark.
"""

from __future__ import annotations

import atexit
import codecs
import gzip
import io
import os
import tempfile
import threading

from customer_segments.ingest.errors import InputError


def open_bytes(path: str) -> io.BufferedIOBase:
    """The file's bytes, decompressed when its name ends in .gz (DuckDB's read_csv does the same)."""
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def _bom_encoding(path: str) -> str | None:
    """The encoding a byte-order mark at the start of the file announces, if any."""
    with open_bytes(path) as handle:
        start = handle.read(3)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8"
    return None


def detect_encoding(path: str, chunk_bytes: int = 1 << 24) -> str:
    """'utf-16' or 'utf-8' after a byte-order mark; else 'utf-8' when every byte of the file decodes
    as utf-8, else 'latin-1' (which decodes anything)."""
    marked = _bom_encoding(path)
    if marked:
        return marked
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open_bytes(path) as handle:
            while chunk := handle.read(chunk_bytes):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


#: utf-16 files transcoded to utf-8 in this process: (path, size, mtime) -> temporary file.
_TRANSCODED: dict[tuple[str, int, int], str] = {}
#: The two base models may read the same file at once, in two threads: one transcodes.
_TRANSCODING = threading.Lock()


def _remove_transcoded() -> None:
    for temporary in _TRANSCODED.values():
        if os.path.exists(temporary):
            os.remove(temporary)


atexit.register(_remove_transcoded)


def utf8_copy(path: str, chunk_chars: int = 1 << 20) -> str:
    """A temporary utf-8 copy of a utf-16 file (either byte order, mark or not: little-endian then).

    DuckDB's read_csv reads utf-16 little-endian but returns no rows, without an error, for
    big-endian; so every utf-16 file is transcoded, once per process, streamed in chunks rather than
    held in memory, and the copy is removed when the process exits. Bytes that are not utf-16 stop
    the build (a transcoder cannot keep them for the rejects table).
    """
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    with _TRANSCODING:
        if key not in _TRANSCODED or not os.path.exists(_TRANSCODED[key]):
            _TRANSCODED[key] = _transcoded(path, chunk_chars)
        return _TRANSCODED[key]


def _transcoded(path: str, chunk_chars: int) -> str:
    # Python's utf-16 decoder wants a mark; without one the file is read as little-endian (Windows).
    encoding = "utf-16" if _bom_encoding(path) == "utf-16" else "utf-16-le"
    handle, temporary = tempfile.mkstemp(prefix="segments_utf8_", suffix=".csv")
    try:
        with (io.TextIOWrapper(open_bytes(path), encoding=encoding, newline="") as source,
              os.fdopen(handle, "w", encoding="utf-8", newline="") as copy):
            while chunk := source.read(chunk_chars):
                copy.write(chunk)
    except UnicodeError as exc:
        os.remove(temporary)
        raise InputError(f"{path}: cannot be read as utf-16 text: {exc}") from None
    return temporary
