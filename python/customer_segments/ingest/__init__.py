"""Reading a shop's export: files of any supported format into typed invoice lines and rejected lines.

``read`` holds the entry points the base models call; the rest, one concern each: ``options`` (the
input vars as the readers use them), ``columns`` (canonical columns and which file column holds each),
``values`` (the SQL that types a value or says why it cannot), ``dates`` (date formats, day/month order,
zones), ``encoding`` (a CSV file's encoding, utf-16 transcoding), ``csv_files``, ``parquet_files`` and
``workbook`` (one reader per format) and ``errors`` (:class:`~customer_segments.ingest.errors.InputError`).
"""
