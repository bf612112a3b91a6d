"""K-means segments from customer features: transforms, the choice of k, stability, ids kept across
builds, names and actions, and the comparisons with other algorithms and feature sets."""
