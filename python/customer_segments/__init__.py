"""customer_segments: the Python side of the customer-segmentation dbt project.

Modules: ``ingest`` (read a shop's export), ``features`` (feature sets, transforms, outlier clipping),
``clustering`` (K-means segments), ``selection`` (choosing k), ``comparison`` (algorithms and feature
sets compared), ``stability`` (bootstrap), ``relabel`` (ids kept across builds), ``importance`` (what
separates the segments), ``naming`` (segment names from centroids and the playbook), ``settings``
(dbt vars), ``runtime`` (single-threaded fits), ``generate`` (the embedded synthetic data set).
"""

__version__ = "0.1.0"
