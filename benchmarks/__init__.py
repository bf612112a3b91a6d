"""Development tools outside the product: `make bench` and the peers it measures the build against."""
