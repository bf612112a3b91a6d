"""customer_segments: the Python side of the customer-segmentation dbt project.

Modules: ``ingest`` (read a shop's export), ``clustering`` (K-means segments), ``naming``
(segment names from centroids and the playbook), ``generate`` (the embedded synthetic data set).
"""

__version__ = "0.1.0"
