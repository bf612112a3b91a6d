"""A development tool outside the product: the deterministic synthetic shop that is the embedded data set."""
