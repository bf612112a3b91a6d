"""What leaves the build: the published DuckDB file, the offline report, campaign exports and the summary."""
