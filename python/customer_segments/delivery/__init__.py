"""What leaves the build: the published DuckDB file, the offline report, campaign exports and the summary.

``publish`` builds and publishes (``python -m customer_segments.delivery.publish``) with ``dbt_process``
(dbt as a child, what may be published) and ``file_replacement`` (the fresh copy, the lock, the atomic
replace); ``published`` is what every reader of the published file shares (paths, read-only
connection, command line): the ``report`` package, ``exports`` and ``summary``. ``build_notes`` collects
what the build skipped or reduced (table build_notes) from the rules of every wing.
"""
